// The same mistake without the macro: `Race::run`'s body ends with the winner's value. It is
// told once, at the body, not again where the race is awaited.
use scope::{Config, Interrupted, Race};

async fn fastest() -> u32 {
    let race = &Race::<u32, Interrupted>::new(Config::new());
    race.run(async {
        race.spawn(async { Ok::<u32, Interrupted>(2) });
        Ok(999)
    })
    .await
    .unwrap()
}

fn main() {
    let _ = fastest();
}
