#[::core::prelude::v1::test]
fn deadline_fires() {
    let __rt = ::scope::__private::tokio::runtime::Builder::new_current_thread()
        .start_paused(true)
        .enable_all()
        .build()
        .expect("failed to build the tokio runtime");
    __rt.block_on(async {
        let __leaks = ::scope::__private::LeakCheck::new();
        let __out = async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
            .await;
        __leaks.assert_clean().await;
        __out
    })
}
