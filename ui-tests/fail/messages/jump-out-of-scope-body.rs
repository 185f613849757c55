use scope::{scope, Interrupted};

// A `scope!` body is an async block: a `break` or `continue` cannot reach a loop outside it.
async fn first_even(xs: Vec<u32>) -> Result<Option<u32>, Interrupted> {
    'outer: for x in xs {
        scope!({
            if x == 0 {
                continue;
            }
            if x % 2 == 0 {
                break 'outer;
            }
            Ok::<_, Interrupted>(())
        })
        .await?;
    }
    Ok(None)
}

fn main() {}
