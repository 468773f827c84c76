//! The file layer under the write-ahead log: the operations the log needs, behind a trait
//! so tests can make writes and syncs fail at any point. The disk layer opens the file for
//! each write and closes it after, so no descriptor stays open per collection; when the
//! process is out of descriptors the write is refused as unavailable (503), not failed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// An open log file.
pub(crate) trait LogFile {
    /// Appends `buf` at the end.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Waits until appended data is on disk.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts (or extends) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Waits until data and length are on disk.
    fn sync_all(&mut self) -> io::Result<()>;
}

/// Opens log files.
pub(crate) trait LogFs: Send + Sync {
    /// Opens `path` for appending, creating it if absent.
    fn open(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
}

/// The real file system.
pub(crate) struct DiskFs;

impl LogFs for DiskFs {
    fn open(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(file))
    }
}

impl LogFile for File {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_all(buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

/// Whether `e` says the process (or system) has no file descriptors left.
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE and ENFILE (the same numbers on Linux and the BSDs).
    matches!(e.raw_os_error(), Some(23 | 24))
}
