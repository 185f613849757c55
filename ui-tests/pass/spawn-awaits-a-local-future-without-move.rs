use scope::{scoped, spawn, Interrupted};

async fn work() -> Result<u8, Interrupted> {
    Ok(1)
}

// `.await`, `for .. in` and `?` take their operand by value: a block without `move` owns it.
#[scoped]
async fn handler(items: Vec<u8>) -> Result<u8, Interrupted> {
    let fut = work();
    let a = spawn!(async { fut.await });
    let b = spawn!(async {
        let mut sum = 0;
        for x in items {
            sum += x;
        }
        Ok::<_, Interrupted>(sum)
    });
    let ready: Result<u8, Interrupted> = Ok(1);
    let c = spawn!(async { Ok::<_, Interrupted>(ready? + 1) });
    Ok(a.await? + b.await? + c.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(handler(vec![1, 2])).unwrap(), 6);
}
