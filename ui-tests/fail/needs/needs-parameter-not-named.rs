use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static A: u32;);

// A `Needs![..]` parameter must be named: `provided!()` and the slot reads go through it. The
// fn still requires `A`, so `provided!()` below is not told otherwise.
#[scoped]
async fn f(_: Needs![A]) -> Result<(), Interrupted> {
    g(provided!()).await.map(|_| ())
}

#[scoped]
async fn g(cx: Needs![A]) -> Result<u32, Interrupted> {
    Ok(*cx.get(&A))
}

fn main() {}
