use scope::Interrupted;

// The scope's result type is written out in the expansion: `impl Trait` cannot be it, at the
// top or inside (the help names a type that works).
#[scope::main]
async fn main() -> Result<impl std::process::Termination, Interrupted> {
    Ok(std::process::ExitCode::SUCCESS)
}

#[scope::main]
async fn other() -> impl std::process::Termination {
    std::process::ExitCode::SUCCESS
}
