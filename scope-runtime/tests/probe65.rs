//! Outside review probes for 4276f63, c11f63c, 76ff424 (untracked).
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scope_runtime::{Cause, Config, Cx, Interrupted, OnCancel, Scope, Slot};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
fn set(f: &Arc<AtomicBool>) -> impl FnOnce(&Cause) + Send + 'static {
    let f = Arc::clone(f);
    move |_: &Cause| f.store(true, Ordering::SeqCst)
}
fn got(f: &Arc<AtomicBool>) -> bool {
    f.load(Ordering::SeqCst)
}

struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
static VAL: Slot<DropCount> = Slot::new("P65_VAL");

struct PanicDrop;
impl Drop for PanicDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("slot value drop panics");
        }
    }
}
static PANICKY: Slot<PanicDrop> = Slot::new("P65_PANICKY");

// ------------------------------------------------------------------------------------------
// 4276f63: callbacks that must still fire at the deadline, nothing looking.

#[tokio::test(start_paused = true)]
async fn p1_registered_after_stop_from_another_thread() {
    let owner = Cx::root().child_with_timeout(ms(30_000));
    assert!(owner.on_cancel(|_| {}).stop());
    let later = flag();
    let rt = tokio::runtime::Handle::current();
    let (o, l) = (owner.clone(), later.clone());
    let h = std::thread::spawn(move || {
        let _g = rt.enter();
        std::mem::forget(o.on_cancel(set(&l)));
    });
    h.join().unwrap();
    sleep(ms(31_000)).await;
    assert!(got(&later), "callback registered (other thread) after a stop did not run");
}

#[tokio::test(start_paused = true)]
async fn p2_child_registered_later_and_merge() {
    // child registered after the owner's only callback was stopped
    let owner = Cx::root().child_with_timeout(ms(30_000));
    assert!(owner.on_cancel(|_| {}).stop());
    let child = owner.child();
    let c = flag();
    let _hc = child.on_cancel(set(&c));
    // merge whose deadline is a's: registered before a's stop, made after a's stop
    let a = Cx::root().child_with_timeout(ms(30_000));
    let b = Cx::root();
    let m_before = a.merge(&b);
    let mb = flag();
    let _hmb = m_before.on_cancel(set(&mb));
    assert!(a.on_cancel(|_| {}).stop());
    let a2 = Cx::root().child_with_timeout(ms(30_000));
    assert!(a2.on_cancel(|_| {}).stop());
    let m_after = b.merge(&a2); // deadline is a2's, second parent
    let ma = flag();
    let _hma = m_after.on_cancel(set(&ma));
    // merge's own callback stopped, then the owner's: another merge's callback remains
    let a3 = Cx::root().child_with_timeout(ms(30_000));
    let m1 = a3.merge(&b);
    let m2 = a3.merge(&b);
    let m3 = flag();
    let _h3 = m2.on_cancel(set(&m3));
    assert!(m1.on_cancel(|_| {}).stop());
    assert!(a3.on_cancel(|_| {}).stop());
    sleep(ms(31_000)).await;
    assert!(got(&c), "child registered later");
    assert!(got(&mb), "merge registered before the stop");
    assert!(got(&ma), "merge (deadline from 2nd parent) registered after the stop");
    assert!(got(&m3), "other merge after two stops");
}

#[tokio::test(start_paused = true)]
async fn p3_stop_inside_callbacks_and_inside_deadline_firing() {
    // At o1's deadline a callback stops o2's only callback (disarm inside the timer's wake),
    // and stops a sibling callback of o1.
    let o1 = Cx::root().child_with_timeout(ms(10_000));
    let o2 = Cx::root().child_with_timeout(ms(30_000));
    let o2_first = flag();
    let h2: Arc<Mutex<Option<OnCancel>>> = Arc::new(Mutex::new(Some(o2.on_cancel(set(&o2_first)))));
    let sib = flag();
    let hs: Arc<Mutex<Option<OnCancel>>> = Arc::new(Mutex::new(None));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (h2c, hsc, st) = (h2.clone(), hs.clone(), stopped.clone());
    let _h1 = o1.on_cancel(move |_| {
        if h2c.lock().unwrap().take().unwrap().stop() {
            st.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(h) = hsc.lock().unwrap().take() {
            if h.stop() {
                st.fetch_add(10, Ordering::SeqCst);
            }
        }
    });
    *hs.lock().unwrap() = Some(o1.on_cancel(set(&sib)));
    sleep(ms(11_000)).await;
    assert_eq!(stopped.load(Ordering::SeqCst) % 10, 1, "o2's callback stopped from o1's");
    // a stop from a callback of o1 on o1's sibling: either it ran or stop said true
    assert!(got(&sib) ^ (stopped.load(Ordering::SeqCst) >= 10));
    // o2: register after its alarm was let go inside the deadline firing
    let o2_later = flag();
    let _l = o2.on_cancel(set(&o2_later));
    sleep(ms(20_000)).await;
    assert!(!got(&o2_first));
    assert!(got(&o2_later), "registered after a stop made inside o1's deadline firing");
}

#[test]
fn p4_stop_racing_deadline_two_workers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for round in 0..20 {
            let mut all = Vec::new();
            for i in 0..200u64 {
                let cx = Cx::root().child_with_timeout(ms(20 + (i % 5)));
                let a = flag();
                let b = flag();
                let ha = cx.on_cancel(set(&a));
                let hb = cx.on_cancel(set(&b));
                all.push((cx, a, b, ha, hb));
            }
            // Stop A on the other worker, around the deadline; B must still run.
            let stops: Vec<(OnCancel, Arc<AtomicBool>)> = all
                .iter_mut()
                .map(|(_, a, _, ha, _)| (std::mem::replace(ha, Cx::root().on_cancel(|_| {})), a.clone()))
                .collect();
            let stopper = tokio::spawn(async move {
                sleep(ms(19)).await;
                let mut res = Vec::new();
                for (h, a) in stops {
                    res.push((h.stop(), a));
                    tokio::task::yield_now().await;
                }
                res
            });
            let res = stopper.await.unwrap();
            sleep(ms(80)).await;
            for (h_stopped, a) in &res {
                assert!(*h_stopped != got(a), "round {round}: stop said {h_stopped}, A ran {}", got(a));
            }
            for (_, _, b, _, _) in &all {
                assert!(got(b), "round {round}: B did not run at the deadline");
            }
        }
    });
}

#[test]
fn p4b_stop_and_register_race_two_threads() {
    // stop(A) on one thread while B is registered on another: B must fire at the deadline.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    for round in 0..30 {
        let mut cases = Vec::new();
        for _ in 0..100 {
            let _g = handle.enter();
            let cx = Cx::root().child_with_timeout(ms(40));
            let ha = cx.on_cancel(|_| {});
            cases.push((cx, ha, flag()));
        }
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let regs: Vec<(Cx, Arc<AtomicBool>)> =
            cases.iter().map(|(cx, _, b)| (cx.clone(), b.clone())).collect();
        let (h2, bar2) = (handle.clone(), barrier.clone());
        let t = std::thread::spawn(move || {
            let _g = h2.enter();
            bar2.wait();
            let mut keep = Vec::new();
            for (cx, b) in regs {
                keep.push(cx.on_cancel(set(&b)));
            }
            keep
        });
        barrier.wait();
        for (_, ha, _) in &cases {
            assert!(ha.stop());
        }
        let _keep = t.join().unwrap();
        std::thread::sleep(ms(120));
        for (i, (_, _, b)) in cases.iter().enumerate() {
            assert!(got(b), "round {round} case {i}: B registered racing stop(A) did not run");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn p5_scope_own_context_with_timeout() {
    // Before the run starts: stop, then register; then the scope runs past its deadline.
    let s = &Scope::new(Config::new().timeout(ms(30_000)));
    assert!(s.cx().on_cancel(|_| {}).stop());
    let before = flag();
    let _b = s.cx().on_cancel(set(&before));
    let during = flag();
    let out: Result<(), Interrupted> = s
        .run(async {
            assert!(s.cx().on_cancel(|_| {}).stop());
            let _d = s.cx().on_cancel(set(&during));
            sleep(ms(60_000)).await;
            Ok(())
        })
        .await;
    assert!(out.is_err());
    assert!(got(&before) && got(&during));
    // Never run: stop then register, deadline with nothing looking.
    let s2: Scope<Interrupted> = Scope::new(Config::new().timeout(ms(30_000)));
    assert!(s2.cx().on_cancel(|_| {}).stop());
    let never_run = flag();
    let _n = s2.cx().on_cancel(set(&never_run));
    sleep(ms(31_000)).await;
    assert!(got(&never_run), "scope never run: callback after a stop");
}

// ------------------------------------------------------------------------------------------
// 4276f63: memory (what the alarm keeps). Drop counters on slot values.

#[tokio::test(start_paused = true)]
async fn p6_memory_base_case_released() {
    let n = Arc::new(AtomicUsize::new(0));
    {
        let cx = Cx::root()
            .with_slot(&VAL, DropCount(n.clone()))
            .child_with_timeout(Duration::from_secs(10));
        let h = cx.on_cancel(|_| {});
        assert!(h.stop());
    }
    sleep(ms(2)).await;
    assert_eq!(n.load(Ordering::SeqCst), 1, "base case: context kept by the alarm");
}

#[tokio::test(start_paused = true)]
async fn p7_memory_child_callback_stopped() {
    // The callback is on a child that inherits the deadline; stopped, everything dropped.
    let n = Arc::new(AtomicUsize::new(0));
    {
        let owner = Cx::root()
            .with_slot(&VAL, DropCount(n.clone()))
            .child_with_timeout(Duration::from_secs(10));
        let child = owner.child();
        let h = child.on_cancel(|_| {});
        assert!(h.stop());
    }
    sleep(ms(2)).await;
    assert_eq!(n.load(Ordering::SeqCst), 1, "child's stopped callback: owner kept until deadline");
}

#[tokio::test(start_paused = true)]
async fn p8_memory_merge_callback_stopped() {
    let n = Arc::new(AtomicUsize::new(0));
    {
        let a = Cx::root()
            .with_slot(&VAL, DropCount(n.clone()))
            .child_with_timeout(Duration::from_secs(10));
        let m = a.merge(&Cx::root());
        let h = m.on_cancel(|_| {});
        assert!(h.stop());
    }
    sleep(ms(2)).await;
    assert_eq!(n.load(Ordering::SeqCst), 1, "merge's stopped callback: owner kept until deadline");
}

#[tokio::test(start_paused = true)]
async fn p9_memory_owner_stop_after_child_dropped() {
    // owner's callback stopped while a child (with a callback) lives; then child dropped.
    let n = Arc::new(AtomicUsize::new(0));
    {
        let owner = Cx::root()
            .with_slot(&VAL, DropCount(n.clone()))
            .child_with_timeout(Duration::from_secs(10));
        let child = owner.child();
        let hc = child.on_cancel(|_| {});
        let h = owner.on_cancel(|_| {});
        assert!(h.stop());
        assert!(hc.stop());
        drop(child);
    }
    sleep(ms(2)).await;
    assert_eq!(n.load(Ordering::SeqCst), 1, "owner kept after child's stop+drop");
}

// No user code under the library's locks: a slot value's Drop that uses the parent, run by
// the stop that lets the context go.
struct UsesParent(Cx, Arc<AtomicBool>);
impl Drop for UsesParent {
    fn drop(&mut self) {
        let _ = self.0.is_cancelled();
        std::mem::forget(self.0.on_cancel(|_| {}));
        let _ = self.0.child().on_cancel(|_| {}).stop();
        self.1.store(true, Ordering::SeqCst);
    }
}
static USES: Slot<UsesParent> = Slot::new("P65_USES");

#[test]
fn p10_no_user_code_under_lock_in_stop() {
    let done = flag();
    let d2 = done.clone();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let parent = Cx::root().child_with_timeout(Duration::from_secs(100));
            let _keep = parent.on_cancel(|_| {});
            let cx = parent
                .child()
                .with_slot(&USES, UsesParent(parent.clone(), d2))
                .child_with_timeout(Duration::from_secs(10));
            let h = cx.on_cancel(|_| {});
            drop(cx);
            // The last handle is the alarm's: stop lets it go here.
            assert!(h.stop());
        });
    });
    for _ in 0..50 {
        if t.is_finished() {
            break;
        }
        std::thread::sleep(ms(100));
    }
    assert!(t.is_finished(), "deadlock: slot value's Drop under a lock");
    t.join().unwrap();
    assert!(got(&done));
}

// ------------------------------------------------------------------------------------------
// c11f63c / 76ff424: the token bridge.

#[tokio::test]
async fn b1_token_first_slot_drop_panics_non_root() {
    let cx = Cx::root().with_slot(&PANICKY, PanicDrop);
    let t = cx.to_token();
    let other = tokio::spawn({
        let t = t.clone();
        async move { t.cancelled().await }
    });
    tokio::task::yield_now().await;
    drop(cx);
    let r = catch_unwind(AssertUnwindSafe(|| t.cancel()));
    assert!(r.is_ok(), "slot drop panic unwound through token.cancel()");
    tokio::time::timeout(ms(1000), other).await.expect("other waiter stranded").unwrap();
}

#[tokio::test]
async fn b2_token_first_callback_panics_root_and_from_token() {
    let cx = Cx::root();
    let t = cx.to_token();
    let ran = flag();
    let _h = cx.on_cancel(|_| panic!("cb panics"));
    let _h2 = cx.on_cancel(set(&ran));
    let other = tokio::spawn({
        let t = t.clone();
        async move { t.cancelled().await }
    });
    tokio::task::yield_now().await;
    let r = catch_unwind(AssertUnwindSafe(|| t.cancel()));
    assert!(r.is_ok(), "callback panic unwound through token.cancel() (root)");
    assert!(cx.is_cancelled() && got(&ran));
    tokio::time::timeout(ms(1000), other).await.expect("stranded").unwrap();

    let t = tokio_util::sync::CancellationToken::new();
    let cx = Cx::from_token(&t);
    let _h = cx.on_cancel(|_| panic!("cb panics"));
    let r = catch_unwind(AssertUnwindSafe(|| t.cancel()));
    assert!(r.is_ok(), "callback panic unwound through token.cancel() (from_token)");
    assert!(cx.is_cancelled());
}

#[tokio::test]
async fn b3_cx_first_slot_drop_panics_via_parent() {
    let parent = Cx::root();
    let cx = parent.child().with_slot(&PANICKY, PanicDrop);
    let t = cx.to_token();
    drop(cx);
    let r = catch_unwind(AssertUnwindSafe(|| parent.cancel("p")));
    eprintln!("b3: parent.cancel with a slot drop panic in the link's hold: {:?}", r.is_err());
    assert!(t.is_cancelled());
}

#[tokio::test]
async fn b3b_cx_first_callback_panics_root() {
    let cx = Cx::root();
    let t = cx.to_token();
    let _h = cx.on_cancel(|_| panic!("cb panics"));
    let r = catch_unwind(AssertUnwindSafe(|| cx.cancel("x")));
    assert!(r.is_err(), "documented: panic goes to the caller of cancel");
    assert!(t.is_cancelled());
}

#[test]
fn b4_panic_at_link_time_reaches_caller() {
    // Outside a runtime: no alarm; the deadline passes unseen; to_token's link fires it.
    let cx = Cx::root().child_with_timeout(ms(5));
    let _h = cx.on_cancel(|_| panic!("cb at link"));
    std::thread::sleep(ms(20));
    let r = catch_unwind(AssertUnwindSafe(|| cx.to_token()));
    assert!(r.is_err(), "a panic at link time did not reach the caller of to_token");
    let t = cx.to_token();
    assert!(t.is_cancelled());
    // inside a runtime, a context whose callback was registered outside one
    let cx = Cx::root().child_with_timeout(ms(5));
    let _h = cx.on_cancel(|_| panic!("cb at link 2"));
    std::thread::sleep(ms(20));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(async { catch_unwind(AssertUnwindSafe(|| cx.to_token())) });
    assert!(r.is_err(), "a panic at link time (in runtime) did not reach the caller");
}

#[test]
fn b5_from_token_same_token() {
    let t = tokio_util::sync::CancellationToken::new();
    let cx = Cx::from_token(&t);
    let t2 = cx.to_token();
    drop(cx);
    t2.cancel();
    assert!(t.is_cancelled(), "from_token's to_token is not the same token");
    // already cancelled token
    let t = tokio_util::sync::CancellationToken::new();
    t.cancel();
    let cx = Cx::from_token(&t);
    assert!(cx.is_cancelled());
    assert!(cx.to_token().is_cancelled());
}

#[tokio::test]
async fn b6_root_link_freed_and_weak() {
    // Root dropped uncancelled: slot values of a child freed; token lives on unlinked.
    let n = Arc::new(AtomicUsize::new(0));
    let t;
    {
        let root = Cx::root();
        t = root.to_token();
        let c = root.with_slot(&VAL, DropCount(n.clone()));
        let _t2 = c.to_token();
        c.cancel("done");
    }
    tokio::task::yield_now().await;
    assert_eq!(n.load(Ordering::SeqCst), 1);
    t.cancel();
}
