// `main` takes no arguments: said once, at the arguments.
#[scope::main]
async fn main(args: Vec<String>) {
    let _ = scope::spawn!(async move { Ok::<_, scope::Interrupted>(args.len()) });
}
