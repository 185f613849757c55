use scope::{Config, Interrupted, Scope};

// The scope handle cannot be stored outside the scope.
async fn escape() {
    let mut outside = None;
    {
        let s = &Scope::new(Config::new());
        let _ = s.run(async {
            outside = Some(s);
            Ok::<(), Interrupted>(())
        }).await;
    }
    drop(outside);
}

fn main() {}
