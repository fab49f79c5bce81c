//! Record bytes this process does not hold: a batch body the I/O layer moved
//! into a kernel pipe (splice) instead of reading it, and the frame shape
//! that lets a request carry such bodies between its in-memory parts.
//!
//! The protocol crate only counts these bytes and keeps them in order; what
//! they are (a pipe range, later perhaps a kTLS record) is the I/O layer's
//! business, reached through [`ExternalBody::holder`].

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use bytes::Bytes;

/// Bytes held outside user space, as the I/O layer describes them.
pub trait ExternalBytes: Any {
    /// How many bytes the holder will write.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A shared handle on bytes held outside user space. Clones share the
/// bytes: they are written at most once, by whoever writes the frame that
/// carries them.
#[derive(Clone)]
pub struct ExternalBody(Rc<dyn ExternalBytes>);

impl ExternalBody {
    pub fn new(holder: Rc<dyn ExternalBytes>) -> ExternalBody {
        ExternalBody(holder)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The I/O layer's own description of the bytes.
    pub fn holder(&self) -> &dyn Any {
        let any: &dyn Any = &*self.0;
        any
    }
}

impl fmt::Debug for ExternalBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalBody({} bytes)", self.len())
    }
}

impl PartialEq for ExternalBody {
    fn eq(&self, other: &ExternalBody) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ExternalBody {}

/// A request frame as the parts to write in order: in-memory slices, with
/// external bodies written just before the part whose index they carry
/// (`parts.len()` for after the last one).
#[derive(Debug, Default)]
pub struct Frame {
    pub parts: Vec<Bytes>,
    pub external: Vec<(usize, ExternalBody)>,
}

impl Frame {
    /// Every byte of the frame, in-memory and external.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum::<usize>()
            + self.external.iter().map(|(_, e)| e.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<Bytes>> for Frame {
    fn from(parts: Vec<Bytes>) -> Frame {
        Frame {
            parts,
            external: Vec::new(),
        }
    }
}
