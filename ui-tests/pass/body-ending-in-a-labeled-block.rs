use scope::{scope, scoped, spawn, Cause, Interrupted};

// A body whose tail is a labeled block that ends in a `Result`: its `break`s and its tail give
// the fn's value, in a `#[scoped]` fn and in a `scope!` block.
#[scoped]
async fn early(flag: bool) -> Result<u32, Interrupted> {
    let child = spawn!(async { Ok(40u32) });
    'done: {
        if flag {
            break 'done Ok(1);
        }
        let n = child.await?;
        Ok(n + 2)
    }
}

async fn in_a_block(flag: bool) -> Result<u32, Interrupted> {
    scope!({
        'done: {
            if flag {
                let cause = Cause::DeadlineExceeded { scope: "b".into() };
                break 'done Err(Interrupted::from_cause(cause));
            }
            Ok(7)
        }
    })
    .await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(early(true)).unwrap(), 1);
    assert_eq!(rt.block_on(early(false)).unwrap(), 42);
    assert_eq!(rt.block_on(in_a_block(false)).unwrap(), 7);
    assert!(rt.block_on(in_a_block(true)).is_err());
}
