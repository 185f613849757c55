use scope::{scope, scoped, try_spawn, try_spawn_in_place, Interrupted, SpawnError};

#[scoped(limit = 1)]
async fn refused_when_full() -> Result<u8, Interrupted> {
    let first = try_spawn!(async { Ok(1) }).unwrap();
    assert_eq!(try_spawn!(async { Ok(2) }).err(), Some(SpawnError::Full));
    Ok(first.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(refused_when_full()).unwrap(), 1);
    let words = ["a", "bb"];
    let n = rt
        .block_on(scope!(error = Interrupted, {
            let c = try_spawn_in_place!(async { Ok(words.len()) }).unwrap();
            Ok(c.await?)
        }))
        .unwrap();
    assert_eq!(n, 2);
}
