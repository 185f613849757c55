use scope::{scope, scoped, spawn, Interrupted};

#[scoped(handle = s)]
async fn stops_itself() -> Result<u8, Interrupted> {
    let child = spawn!(async {
        scope::cancelled().await;
        Ok(0)
    });
    assert!(!s.is_closed());
    s.cancel("enough");
    assert!(s.is_closed());
    assert!(s.cx().is_cancelled());
    Ok(child.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(matches!(rt.block_on(stops_itself()), Err(Interrupted::Cancelled(_))));
    let out = rt.block_on(scope!(error = Interrupted, |s| {
        let _ = s.cx();
        Ok(5)
    }));
    assert_eq!(out.unwrap(), 5);
}
