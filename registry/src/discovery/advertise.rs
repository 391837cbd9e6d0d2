//! An IKC server's advertisement: a session that holds the server's
//! registration (a child session, which registers again by itself after
//! the registry restarts) until it is stopped or IKC shuts down.

use roe_engine::{Context, Session};
use roe_ikc::Ikc;

use super::{Discovery, IKC_DOWN, monitor_ikc};
use crate::client::{Register, Registration};

/// The advertisement session's heap.
pub(super) struct Advert {
    ikc: Ikc,
    register: Option<Register>,
    registration: Option<Registration>,
}

pub(super) fn session(ikc: Ikc, register: Register) -> Session<Advert> {
    Session::new(Advert {
        ikc,
        register: Some(register),
        registration: None,
    })
    .on("_start", |cx, _| {
        if cx.heap.ikc.is_shutting_down() {
            return Ok(());
        }
        monitor_ikc(cx, true);
        if let Some(register) = cx.heap.register.take() {
            cx.heap.registration = Some(register.spawn(cx)?);
        }
        Ok::<_, roe_engine::Error>(())
    })
    .on(IKC_DOWN, |cx, _| stop(cx))
    .on(Discovery::STOP, |cx, _| stop(cx))
    .on("shutdown", |cx, _| stop(cx))
    .on("_stop", |cx, _| monitor_ikc(cx, false))
}

/// The registration closes (the service goes), and the session with it.
fn stop(cx: &mut Context<'_, Advert>) {
    if let Some(registration) = cx.heap.registration.take() {
        let _ = registration.close(cx);
    }
    monitor_ikc(cx, false);
}
