// A type written as a path is told as it was written, not with the token stream's spacing.
#[scope::main]
async fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
