//! `Session`: a state machine of handlers keyed by event name, with a heap.

pub(crate) mod table;

use std::{cell::Cell, rc::Rc};

use rustc_hash::FxHashMap;

use crate::{
    error::{Error, Result},
    event::Event,
    kernel::context::Context,
    value::{Args, Value},
};

/// A handler as the kernel stores it. It borrows the arguments and takes
/// them itself, so the hundred bytes of `Args` move once, straight into
/// the user's closure, rather than at each call across the `dyn`.
pub(crate) type Handler<H> = Rc<dyn Fn(&mut Context<'_, H>, &mut Args) -> Result<Value>>;

/// A session's handlers by event.
pub(crate) type Handlers<H> = FxHashMap<Event, Handler<H>>;

/// What a handler may return: `()`, a [`Value`] (or anything that converts
/// into one), or a [`Result`] of those.
///
/// The error is the kernel's [`Error`], so that a closure ending in
/// `Ok(())` needs no annotation; `?` converts into it from
/// [`std::io::Error`], a boxed error of any kind, a message (`String`,
/// `&str`), a filter's or `take_local`'s error, and [`TryPostError`]. An
/// error type of your own converts with a `From` impl, or boxed.
///
/// [`TryPostError`]: crate::TryPostError
///
/// The value is what `call` returns, and what `_start` and `_stop` hand to
/// the parent's `_child`. An `Err` is an exception: the kernel turns it into
/// POE's `DIE` signal, as it does a panic.
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(())
///         .on("_start", |cx, _| cx.alias_set("parser"))
///         .on("parse", |_, args| -> roe_engine::Result<i64> {
///             let text = args[0].as_str().unwrap_or("");
///             // A boxed error of any kind converts with `?`.
///             let boxed: Box<dyn std::error::Error + Send + Sync> = match text.parse::<i64>() {
///                 Ok(n) => return Ok(n),
///                 Err(e) => e.into(),
///             };
///             Err(boxed)?
///         }),
/// )?;
/// assert_eq!(kernel.call("parser", "parse", ("42",))?.as_int(), Some(42));
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Return {
    /// Converts the handler's result.
    ///
    /// # Errors
    ///
    /// The handler's own error.
    fn into_result(self) -> Result<Value>;
}

impl Return for () {
    fn into_result(self) -> Result<Value> {
        Ok(Value::Undef)
    }
}

impl Return for Value {
    fn into_result(self) -> Result<Value> {
        Ok(self)
    }
}

impl<T: Into<Value>> Return for Result<T> {
    fn into_result(self) -> Result<Value> {
        self.map(Into::into)
    }
}

/// An object whose methods handle events (POE's `object_states`).
///
/// One object may serve many events and many sessions, as a Perl object can;
/// it is shared (`Rc`), so state that changes belongs in the session's heap.
/// `method` is the name the session mapped the event to.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use roe_engine::{Args, Context, Kernel, Object, Session, Value};
///
/// struct Greeter { greeting: String }
///
/// impl Object<Vec<String>> for Greeter {
///     fn handle(&self, cx: &mut Context<'_, Vec<String>>, method: &str, args: Args) -> roe_engine::Result<Value> {
///         match method {
///             "start" => cx.yield_("greet", ("world",)),
///             _ => cx.heap.push(format!("{method}: {} {}", self.greeting, args[0])),
///         }
///         Ok(Value::Undef)
///     }
/// }
///
/// let greeter = Rc::new(Greeter { greeting: "hello".into() });
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Vec::new())
///         .object_map(&greeter, [("_start", "start"), ("greet", "greet")])
///         .on("_stop", |cx, _| assert_eq!(*cx.heap, ["greet: hello world"])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Object<H>: 'static {
    /// Handles one event.
    ///
    /// # Errors
    ///
    /// An error becomes the `DIE` signal.
    fn handle(&self, cx: &mut Context<'_, H>, method: &str, args: Args) -> Result<Value>;
}

/// A type whose associated functions handle events (POE's
/// `package_states`).
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Context, Kernel, Package, Session, Value};
///
/// struct Counter;
///
/// impl Package<u32> for Counter {
///     fn handle(cx: &mut Context<'_, u32>, method: &str, _: Args) -> roe_engine::Result<Value> {
///         match method {
///             "_start" => cx.yield_("count", ()),
///             "count" => *cx.heap += 1,
///             _ => assert_eq!(*cx.heap, 1), // _stop
///         }
///         Ok(Value::Undef)
///     }
/// }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(0).package::<Counter>(["_start", "count", "_stop"]))?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Package<H>: 'static {
    /// Handles one event.
    ///
    /// # Errors
    ///
    /// An error becomes the `DIE` signal.
    fn handle(cx: &mut Context<'_, H>, method: &str, args: Args) -> Result<Value>;
}

/// Session options (POE's `options => { trace, default }`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    /// Log each event as it is dispatched.
    pub trace: bool,
    /// Warn about events that have no handler and no `_default`.
    pub default: bool,
}

/// A session to spawn: its heap, handlers, `_start` arguments and options.
///
/// The four styles of POE's `POE::Session->create` are builder calls and mix
/// freely: [`on`](Session::on) for inline closures (and `fn` items, the
/// package style of plain functions), [`object`](Session::object) for an
/// object's methods, [`package`](Session::package) for a type's associated
/// functions. Every session needs a `_start` handler.
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Session};
///
/// struct Counter { n: u32 }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Counter { n: 0 })
///         .on("_start", |cx, _args| cx.yield_("tick", ()))
///         .on("tick", |cx, _args| {
///             cx.heap.n += 1;
///             if cx.heap.n < 3 {
///                 cx.yield_("tick", ());
///             }
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Session<H> {
    pub(crate) heap: H,
    pub(crate) handlers: Handlers<H>,
    pub(crate) args: Args,
    pub(crate) options: Options,
}

impl<H: 'static> Session<H> {
    /// A session with this heap and no handlers yet.
    pub fn new(heap: H) -> Session<H> {
        Session {
            heap,
            handlers: Handlers::default(),
            args: Args::new(),
            options: Options::default(),
        }
    }

    /// Handles `event` with a closure or function (POE's `inline_states`).
    pub fn on<F, R>(mut self, event: impl Into<Event>, handler: F) -> Session<H>
    where
        F: Fn(&mut Context<'_, H>, Args) -> R + 'static,
        R: Return,
    {
        self.handlers.insert(event.into(), wrap(handler));
        self
    }

    /// Handles `_start` with a closure that runs once, so it may take
    /// move-only resources (a socket, a receiver) into the session.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use roe_engine::{Kernel, Session};
    ///
    /// let (tx, rx) = mpsc::channel::<u32>();
    /// tx.send(7).unwrap();
    /// let mut kernel = Kernel::new()?;
    /// kernel.spawn(Session::new(0u32).on_start(move |cx, _| {
    ///     // `rx` moves into the handler, which runs once.
    ///     *cx.heap = rx.recv().unwrap();
    /// }))?;
    /// kernel.run()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn on_start<F, R>(self, handler: F) -> Session<H>
    where
        F: FnOnce(&mut Context<'_, H>, Args) -> R + 'static,
        R: Return,
    {
        let once = Cell::new(Some(handler));
        self.on(
            Event::START,
            move |cx: &mut Context<'_, H>, args: Args| match once.take() {
                Some(handler) => handler(cx, args).into_result(),
                None => Ok(Value::Undef),
            },
        )
    }

    /// Handles each of `events` with the method of the same name on `object`
    /// (POE's `object_states => [$obj => [...]]`).
    pub fn object<O: Object<H>>(
        self,
        object: &Rc<O>,
        events: impl IntoIterator<Item = &'static str>,
    ) -> Session<H> {
        self.object_map(object, events.into_iter().map(|name| (name, name)))
    }

    /// Handles each `(event, method)` pair with that method on `object`
    /// (POE's `object_states => [$obj => { event => 'method' }]`).
    pub fn object_map<O: Object<H>>(
        mut self,
        object: &Rc<O>,
        pairs: impl IntoIterator<Item = (&'static str, &'static str)>,
    ) -> Session<H> {
        for (event, method) in pairs {
            self.handlers
                .insert(Event::new(event), object_handler(object, method));
        }
        self
    }

    /// Handles each of `events` with `P`'s function of the same name (POE's
    /// `package_states => [Package => [...]]`).
    pub fn package<P: Package<H>>(
        self,
        events: impl IntoIterator<Item = &'static str>,
    ) -> Session<H> {
        self.package_map::<P>(events.into_iter().map(|name| (name, name)))
    }

    /// Handles each `(event, method)` pair with `P`'s function `method`.
    pub fn package_map<P: Package<H>>(
        mut self,
        pairs: impl IntoIterator<Item = (&'static str, &'static str)>,
    ) -> Session<H> {
        for (event, method) in pairs {
            self.handlers
                .insert(Event::new(event), package_handler::<H, P>(method));
        }
        self
    }

    /// Arguments for `_start` (POE's `args => [...]`).
    pub fn args(mut self, args: impl Into<Args>) -> Session<H> {
        self.args = args.into();
        self
    }

    /// Logs every event as it is dispatched (POE's `trace` option), through
    /// `tracing` at level INFO with the target `roe::trace`.
    pub fn trace(mut self, on: bool) -> Session<H> {
        self.options.trace = on;
        self
    }

    /// Warns (through `tracing`) about events that have neither a handler nor
    /// `_default` (POE's `default` option).
    pub fn warn_unhandled(mut self, on: bool) -> Session<H> {
        self.options.default = on;
        self
    }

    /// What a missing `_start` costs at spawn.
    pub(crate) fn require_start(&self) -> Result<()> {
        if self.handlers.contains_key(&Event::START) {
            Ok(())
        } else {
            Err(Error::MissingStart)
        }
    }
}

/// Boxes a handler of any return type into the stored form.
pub(crate) fn wrap<H, F, R>(handler: F) -> Handler<H>
where
    F: Fn(&mut Context<'_, H>, Args) -> R + 'static,
    R: Return,
{
    Rc::new(move |cx: &mut Context<'_, H>, args: &mut Args| {
        handler(cx, std::mem::take(args)).into_result()
    })
}

pub(crate) fn object_handler<H, O: Object<H>>(object: &Rc<O>, method: &'static str) -> Handler<H> {
    let object = Rc::clone(object);
    Rc::new(move |cx: &mut Context<'_, H>, args: &mut Args| {
        object.handle(cx, method, std::mem::take(args))
    })
}

fn package_handler<H, P: Package<H>>(method: &'static str) -> Handler<H> {
    Rc::new(move |cx: &mut Context<'_, H>, args: &mut Args| {
        P::handle(cx, method, std::mem::take(args))
    })
}
