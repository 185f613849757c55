use scope::{scoped, spawn, Interrupted};

// A reference parameter used inside another macro's arguments in a spawned child (a format
// argument, a format string's inline `{name}`, a `vec!`'s element) is a use all the same.
#[scoped]
async fn greet(name: &str, title: &str, tags: &[u8]) -> Result<usize, Interrupted> {
    let a = spawn!(async move { Ok(format!("hello {}", name).len()) });
    let b = spawn!(async move { Ok(format!("{title:>8}").len()) });
    let c = spawn!(async move {
        let all = vec![tags];
        Ok(all.len())
    });
    Ok(a.await? + b.await? + c.await?)
}

fn main() {}
