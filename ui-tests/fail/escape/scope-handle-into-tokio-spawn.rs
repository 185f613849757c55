use scope::{Config, Interrupted, Scope};

// The scope handle cannot move into an unscoped task (even with the orphan lint silenced).
async fn escape() {
    let s = &Scope::new(Config::new());
    let _ = s.run(async {
        let _ = tokio::spawn(async move {
            s.cancel("from outside");
        });
        Ok::<(), Interrupted>(())
    }).await;
}

fn main() {}
