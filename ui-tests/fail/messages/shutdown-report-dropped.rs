// An application's run hands back the services' failures in its report: dropping it unread
// says them nowhere, so the compiler says so (here as an error, as under `#![deny(warnings)]`).
#![deny(unused_must_use)]

use std::time::Duration;

use scope::App;

async fn serve(app: &App) {
    app.run(Duration::from_secs(5), futures_util::stream::empty(), async {})
        .await;
}

fn main() {
    let _ = serve;
}
