//! `neutrino instance …`: instances as network namespaces (see `nt_agent::instance`). Like the
//! `openstack` CLI, these find the server through `OS_CLOUD`/`clouds.yaml` (default: the cloud
//! `neutrino up` wrote).

use clap::{Args, Subcommand};
use nt_agent::instance::{self, CreateRequest};
use nt_agent::Api;
use serde_json::Value;

/// `neutrino instance` options.
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// Cloud in clouds.yaml [default: OS_CLOUD, else `neutrino`].
    #[arg(long, global = true)]
    pub os_cloud: Option<String>,
    #[command(subcommand)]
    pub command: InstanceCommand,
}

/// The instance subcommands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance: a port bound to this host and a network namespace on it.
    Create {
        /// Network (name or id).
        #[arg(long)]
        network: String,
        /// Subnet to take the address from (name or id).
        #[arg(long)]
        subnet: Option<String>,
        /// Security group (name or id); repeat for several [default: the project's default].
        #[arg(long = "security-group", value_name = "SG")]
        security_groups: Vec<String>,
        /// Instance name (also its port's and its namespace's) [default: inst-<id>].
        #[arg(long)]
        name: Option<String>,
        /// Host to bind the port to [default: this machine's hostname].
        #[arg(long, env = "NEUTRINO_HOST")]
        host: Option<String>,
        /// Output format.
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// List instances.
    List {
        /// Output format.
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Show one instance.
    Show {
        /// Instance name or id.
        name: String,
        /// Output format.
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Delete instances (port, veth and namespace).
    Delete {
        /// Instance names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Run a command inside an instance: `neutrino instance exec vm1 -- ping -c 1 10.0.0.5`.
    Exec {
        /// Instance name.
        name: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// Renders rows as the `openstack` CLI's tables.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let rule: String =
        widths.iter().map(|w| format!("+{}", "-".repeat(w + 2))).collect::<String>() + "+\n";
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("| {c}{} ", " ".repeat(w - c.chars().count())))
            .collect::<String>()
            + "|\n"
    };
    let mut out = rule.clone();
    out += &line(headers.to_vec());
    out += &rule;
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out += &rule;
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn print_one(v: &Value, format: &str) -> anyhow::Result<()> {
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> =
        v.as_object().into_iter().flatten().map(|(k, val)| vec![k.clone(), cell(val)]).collect();
    print!("{}", table(&["Field", "Value"], &rows));
    Ok(())
}

/// `neutrino instance …`.
pub async fn run(args: InstanceArgs) -> anyhow::Result<()> {
    if let InstanceCommand::Exec { name, command } = &args.command {
        anyhow::ensure!(
            nt_agent::net::netns_exists(name),
            "no instance namespace '{name}' on this host"
        );
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", name])
            .args(command)
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run ip netns exec: {e}"))?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let api = Api::from_env(args.os_cloud.as_deref())?;
    match args.command {
        InstanceCommand::Create { network, subnet, security_groups, name, host, format } => {
            let req = CreateRequest {
                network,
                subnet,
                security_groups,
                name,
                host: host.unwrap_or_else(nt_agent::hostname),
            };
            let (view, how) = instance::create(&api, &req).await?;
            print_one(&view, &format)?;
            eprintln!("address: {how}");
        }
        InstanceCommand::List { format } => {
            let list = instance::list(&api).await?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|v| {
                        ["id", "name", "status", "addresses", "host"]
                            .iter()
                            .map(|k| cell(&v[*k]))
                            .collect()
                    })
                    .collect();
                print!("{}", table(&["ID", "Name", "Status", "Networks", "Host"], &rows));
            }
        }
        InstanceCommand::Show { name, format } => {
            print_one(&instance::show(&api, &name).await?, &format)?;
        }
        InstanceCommand::Delete { names } => {
            let mut failed = 0;
            for name in &names {
                if let Err(e) = instance::delete(&api, name).await {
                    eprintln!("neutrino: cannot delete instance {name}: {e:#}");
                    failed += 1;
                }
            }
            anyhow::ensure!(failed == 0, "{failed} of {} instances not deleted", names.len());
        }
        InstanceCommand::Exec { .. } => unreachable!("handled above"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_look_like_the_openstack_cli() {
        let t = table(&["Name", "Status"], &[vec!["vm1".into(), "ACTIVE".into()]]);
        assert_eq!(
            t,
            "+------+--------+\n| Name | Status |\n+------+--------+\n| vm1  | ACTIVE |\n+------+--------+\n"
        );
    }
}
