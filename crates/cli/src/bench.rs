//! `smsflow bench` (being written).

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Contacts to create and message.
    #[arg(long, default_value_t = 100_000)]
    pub contacts: usize,
}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("bench is not built yet")
}
