// Not `async`: that is the one error, not one more for each `spawn!` or `.await` in its body.
#[scope::main]
fn main() {
    let child = scope::spawn!(async { Ok::<_, scope::Interrupted>(1) });
    let _ = async { child.await };
}
