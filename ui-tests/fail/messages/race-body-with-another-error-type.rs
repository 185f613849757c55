// A race's body that ends with `Ok(())` of another error type: it is told the race's error
// type, which `?` converts into.
use scope::{Config, Interrupted, Race};

async fn fastest() -> u32 {
    let race = &Race::<u32, Interrupted>::new(Config::new());
    race.run(async {
        race.spawn(async { Ok::<u32, Interrupted>(2) });
        Ok::<(), std::io::Error>(())
    })
    .await
    .unwrap()
}

fn main() {
    let _ = fastest();
}
