use scope::{scope, scoped, spawn_in_place, Interrupted};

// What an in-place child may assign to: a local declared before the `scope!` (read once the
// scope has ended), a name the child binds itself, a place reached through a reference the
// body holds, and a local a nested `move` block owns. None is taken for a local of the body.
async fn before_the_scope(items: &[u32]) -> Result<u32, Interrupted> {
    let mut total = 0;
    scope!(error = Interrupted, {
        spawn_in_place!(async {
            total += items.len() as u32;
            Ok(())
        });
        Ok(())
    })
    .await?;
    Ok(total)
}

#[scoped]
async fn own_names(items: Vec<u32>, out: &mut u32) -> Result<u32, Interrupted> {
    let slot = &mut *out;
    let mut n = 0;
    let h = spawn_in_place!(async {
        let mut n = 0;
        for i in &items {
            n += *i;
        }
        *slot = n;
        let mut copy = 1;
        let mut f = move || {
            copy += 1;
            copy
        };
        Ok(n + f())
    });
    n += h.await?;
    Ok(n)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(before_the_scope(&[1, 2, 3])).unwrap(), 3);
    let mut out = 0;
    assert_eq!(rt.block_on(own_names(vec![1, 2], &mut out)).unwrap(), 5);
    assert_eq!(out, 3);
}
