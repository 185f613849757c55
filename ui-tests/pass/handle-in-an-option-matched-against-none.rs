use scope::{scoped, spawn, Interrupted};

// An arm's pattern `None` (or a constant's name) binds nothing: a child in that arm that
// writes `None` does not use the scope's handle, which the matched value holds.
#[scoped(handle = s)]
async fn arm(flag: bool) -> Result<u8, Interrupted> {
    let maybe = Some(s);
    let maybe_too = Some(s);
    let n = match maybe {
        Some(_) if flag => Ok(0),
        None | Some(_) => {
            spawn!(async {
                let v: Option<u8> = None;
                Ok::<u8, Interrupted>(v.unwrap_or(3))
            })
            .await
        }
    }?;
    if let None = maybe_too {
        spawn!(async { Ok::<Option<u8>, Interrupted>(None) }).await?;
    }
    Ok(n)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(arm(false)).unwrap(), 3);
    assert_eq!(rt.block_on(arm(true)).unwrap(), 0);
}
