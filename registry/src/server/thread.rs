//! [`ServerThread`]: a registry server on a thread of its own, for
//! programs (and tests) that run no kernel of their own.

use std::sync::{Mutex, mpsc};

use roe_engine::{Runtime, RuntimeHandle};

use super::{RegistryListener, RegistryServer, ServerError};
use crate::addr::RegistryAddr;

/// A registry server running on a thread of its own (a one-kernel roe
/// runtime); dropping it stops the server and waits for the thread.
///
/// # Examples
///
/// ```
/// use roe_registry::{RegistryServer, ServerConfig};
///
/// let server = RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse()?)).start()?;
/// println!("registry {}", server.addr());
/// server.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerThread {
    runtime: Option<Runtime>,
    listener: RegistryListener,
}

impl RegistryServer {
    /// Starts the server on a thread of its own, and returns once it
    /// listens.
    ///
    /// # Errors
    ///
    /// As [`spawn`](RegistryServer::spawn), and [`ServerError::Engine`]
    /// when the thread cannot start.
    pub fn start(self) -> Result<ServerThread, ServerError> {
        let server = Mutex::new(Some(self));
        let (started_tx, started) = mpsc::channel();
        let runtime = Runtime::builder()
            .kernels(1)
            .pin(false)
            .start(move |kernel| {
                let server = server.lock().ok().and_then(|mut server| server.take());
                if let Some(server) = server {
                    let _ = started_tx.send(server.spawn(kernel));
                }
                Ok(())
            })?;
        match started.recv() {
            Ok(Ok(listener)) => Ok(ServerThread {
                runtime: Some(runtime),
                listener,
            }),
            Ok(Err(error)) => {
                runtime.handle().shutdown();
                let _ = runtime.join();
                Err(error)
            }
            Err(_) => {
                let joined = runtime.join();
                Err(ServerError::Engine(joined.err().unwrap_or_else(|| {
                    roe_engine::Error::handler("the registry's kernel did not start")
                })))
            }
        }
    }
}

impl ServerThread {
    /// Where the server listens, with the ports it got.
    pub fn addr(&self) -> &RegistryAddr {
        self.listener.addr()
    }

    /// The server's session and address.
    pub fn listener(&self) -> &RegistryListener {
        &self.listener
    }

    /// The runtime the server runs on (to post to its session, say).
    pub fn handle(&self) -> Option<RuntimeHandle> {
        self.runtime.as_ref().map(Runtime::handle)
    }

    /// Stops the server (its state file written, if it keeps one) and
    /// waits for its thread.
    ///
    /// # Errors
    ///
    /// [`ServerError::Engine`] when the server's kernel failed.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServerError> {
        match self.runtime.take() {
            Some(runtime) => {
                runtime.handle().shutdown();
                Ok(runtime.join()?)
            }
            None => Ok(()),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
