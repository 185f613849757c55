use scope::{scoped, Interrupted};

// A tuple pattern with a tuple value: each name is what its element is.
#[scoped]
async fn paired() -> Result<(), Interrupted> {
    let (rt, _n) = (tokio::runtime::Handle::current(), 1);
    rt.spawn(async {});
    Ok(())
}

fn main() {}
