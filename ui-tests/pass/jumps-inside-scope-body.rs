use std::ops::ControlFlow;

use scope::{scope, Interrupted};

// Jumps that stay inside a `scope!` body (its own loops and labelled blocks, a closure's own
// loop), and the way out of an enclosing loop: a value, then `break` after the `.await`.
async fn first_even(xs: Vec<u32>) -> Result<Option<u32>, Interrupted> {
    for x in xs {
        let flow = scope!({
            let mut n = 0;
            'count: loop {
                n += 1;
                if n < 3 {
                    continue 'count;
                }
                break;
            }
            let odd = 'check: {
                if x % 2 == 0 {
                    break 'check false;
                }
                true
            };
            let _sum: u32 = (0..x)
                .map(|i| {
                    let mut s = 0;
                    for j in 0..i {
                        if j > 3 {
                            break;
                        }
                        s += j;
                    }
                    s
                })
                .sum();
            Ok::<_, Interrupted>(if odd || n != 3 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(x)
            })
        })
        .await?;
        if let ControlFlow::Break(x) = flow {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(first_even(vec![1, 3, 4, 6])).unwrap(), Some(4));
}
