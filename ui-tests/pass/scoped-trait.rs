use std::time::Duration;

use scope::{scoped, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

// On a trait: its async methods with a default body run as scopes, with the trait's options;
// a required method is each impl's to scope, and `#[scope::unscoped]` leaves a helper out.
#[scoped(timeout = Duration::from_millis(50))]
trait Repo {
    const BASE: u32;

    async fn fetch(&self, id: u32) -> Result<u32, AppError>;

    async fn load(&self) -> Result<u32, AppError> {
        let slow = spawn!(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(1)
        });
        Ok(slow.await? + Self::BASE)
    }

    async fn both(&self) -> Result<u32, AppError> {
        let a = spawn!(async { Ok(Self::BASE) });
        Ok(a.await? + self.fetch(2).await? + self.helper().await)
    }

    #[scope::unscoped]
    async fn helper(&self) -> u32 {
        1
    }

    fn plain(&self) -> u32 {
        2
    }
}

struct Db;

impl Repo for Db {
    const BASE: u32 = 10;

    #[scoped]
    async fn fetch(&self, id: u32) -> Result<u32, AppError> {
        match id {
            0 => Err(AppError::NotFound),
            _ => Ok(spawn!(async move { Ok(id * 100) }).await?),
        }
    }
}

// In a `#[scoped]` module: its traits too. The fns a macro call writes are not seen by the
// module's `#[scoped]` (the call expands after it): the macro puts `#[scoped]` on them.
#[scoped(timeout = Duration::from_millis(50))]
mod handlers {
    use super::*;

    pub trait Cache {
        async fn warm(&self) -> Result<u32, AppError> {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(1)
        }
    }

    macro_rules! slow_getter {
        ($name:ident) => {
            #[scoped(timeout = Duration::from_millis(50))]
            pub async fn $name() -> Result<u32, AppError> {
                let slow = spawn!(async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(3)
                });
                Ok(slow.await?)
            }
        };
    }

    #[scope::unscoped]
    slow_getter!(get);
}

struct Warm;

impl handlers::Cache for Warm {}

fn timed_out(out: Result<u32, AppError>) -> bool {
    matches!(out, Err(AppError::Interrupted(Interrupted::DeadlineExceeded(_))))
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            use handlers::Cache;
            assert!(timed_out(Db.load().await));
            assert_eq!(Db.both().await.unwrap(), 10 + 200 + 1);
            assert!(matches!(Db.fetch(0).await, Err(AppError::NotFound)));
            assert_eq!(Db.plain(), 2);
            assert!(timed_out(Warm.warm().await));
            assert!(timed_out(handlers::get().await));
        });
}
