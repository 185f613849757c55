use scope::{scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    let child = spawn_in_place!(async {
        let grandchild = spawn!(async { Ok::<u8, Interrupted>(1) });
        grandchild.await
    });
    child.await?;
    Ok(())
}

fn main() {}
