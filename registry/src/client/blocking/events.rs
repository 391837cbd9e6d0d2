//! [`EventStream`]: a blocking watch of the registry's event port.

use std::time::{Duration, Instant};

use super::conn::Conn;
use crate::client::error::ClientError;
use crate::client::event::WatchEvent;
use crate::error::Error;
use crate::line::{EventLine, Port};
use crate::revision::Revision;

/// What a [`BlockingClient`](crate::BlockingClient)'s watch hears, one
/// [`WatchEvent`] at a time: in roe's detailed mode
/// [`Change`](WatchEvent::Change)s and [`Synced`](WatchEvent::Synced)s,
/// in registry(4)'s counter mode [`Changed`](WatchEvent::Changed)s.
///
/// As an iterator, each item waits at most the client's timeout: a quiet
/// registry gives `Some(Err(`[`ClientError::Timeout`]`))`, after which the
/// stream can be read on; the end of the stream, or any other error, ends
/// it. The stream does not reconnect: after an error, watch again from
/// [`last_revision`](EventStream::last_revision).
#[derive(Debug)]
pub struct EventStream {
    conn: Conn,
    detailed: bool,
    /// A line read before the stream was handed out.
    pending: Option<Vec<u8>>,
    last: Option<Revision>,
    timeout: Duration,
    done: bool,
}

impl EventStream {
    pub(super) fn new(
        conn: Conn,
        detailed: bool,
        pending: Option<Vec<u8>>,
        since: Option<Revision>,
        timeout: Duration,
    ) -> EventStream {
        EventStream {
            conn,
            detailed,
            pending,
            last: since,
            timeout,
            done: false,
        }
    }

    /// The revision of the last change or sync heard (or the `since` the
    /// watch began with): where a new watch resumes.
    pub fn last_revision(&self) -> Option<Revision> {
        self.last
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` once the
    /// registry has closed the stream.
    ///
    /// # Errors
    ///
    /// [`ClientError::Timeout`] when nothing came in time (the stream goes
    /// on); [`ClientError::Refused`] when the registry stops the watch (a
    /// watcher so far behind that the changes it is owed are gone says
    /// `revision too old`), [`ClientError::BadAnswer`] for a line the
    /// mode does not carry, and the connection's errors, each of which
    /// ends the stream.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let line = match self.pending.take() {
            Some(line) => Some(line),
            None => match self.conn.line(Instant::now() + timeout, timeout) {
                Ok(line) => line,
                Err(error) if error.is_timeout() => return Err(error),
                Err(error) => return Err(self.end(error)),
            },
        };
        let Some(line) = line else {
            self.done = true;
            return Ok(None);
        };
        let event = match EventLine::parse(&line) {
            Ok(EventLine::Counter(revision)) if !self.detailed => WatchEvent::Changed(revision),
            Ok(EventLine::Change(notice)) if self.detailed => {
                self.last = Some(notice.revision);
                WatchEvent::Change(notice)
            }
            Ok(EventLine::Sync(revision)) if self.detailed => {
                self.last = Some(revision);
                WatchEvent::Synced(revision)
            }
            Ok(EventLine::Error(reason)) => {
                return Err(self.end(ClientError::Refused {
                    port: Port::Event,
                    reason,
                }));
            }
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).into_owned();
                let expected = if self.detailed {
                    "a change or a sync"
                } else {
                    "a revision"
                };
                return Err(self.end(ClientError::BadAnswer {
                    port: Port::Event,
                    error: Error::unexpected(expected, &text),
                }));
            }
            Err(error) => {
                return Err(self.end(ClientError::BadAnswer {
                    port: Port::Event,
                    error,
                }));
            }
        };
        Ok(Some(event))
    }

    fn end(&mut self, error: ClientError) -> ClientError {
        self.done = true;
        self.conn.abort();
        error
    }
}

impl Iterator for EventStream {
    type Item = Result<WatchEvent, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv_timeout(self.timeout).transpose()
    }
}
