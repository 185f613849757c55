use std::process::ExitCode;

#[scope::main]
async fn main() -> ExitCode {
    ExitCode::SUCCESS
}
