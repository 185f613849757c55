use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

// A spawned child of a nested scope runs as its own task: it cannot borrow the handle of a
// scope around its own (nor a name that holds it), and is told so at the use. An in-place
// child of the nested scope may borrow it: the outer scope outlives the nested one.
#[scoped(handle = s)]
async fn outer() -> Result<(), Interrupted> {
    let held = &s;
    scope!(error = Interrupted, {
        let c = spawn!(async move {
            let _ = s.is_closed();
            Ok(())
        });
        c.await?;
        let lent = spawn_in_place!(async { Ok::<_, Interrupted>(held.is_closed()) });
        lent.await?;
        scope!(error = Interrupted, |inner| {
            let d = spawn!(async move {
                held.cancel("two levels down");
                Ok(())
            });
            let _ = inner.is_closed();
            d.await?;
            Ok(())
        })
        .await
    })
    .await?;
    Ok(())
}

fn main() {}
