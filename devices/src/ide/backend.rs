//! Where a drive's sectors live: a [`BlockBackend`] over a host file.
//!
//! - [`RawFile`]: a raw image opened read-write; writes go to the file at once (positioned
//!   writes), FLUSH CACHE and drop `fsync` it.
//! - [`Overlay`]: `--snapshot`: a copy-on-write overlay in memory over a read-only file; the
//!   image is never written and the overlay is lost at exit.
//! - [`ReadOnlyFile`]: a read-only file (CD-ROM images); writes fail with [`BlockError::ReadOnly`].
//!
//! [`open_disk`] and [`open_cdrom`] check a path the way the command line needs and say clearly
//! what is wrong with it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Bytes in an ATA sector.
pub const SECTOR_SIZE: u64 = 512;

/// Why a backend refused an access.
#[derive(Debug, Error)]
pub enum BlockError {
    /// The medium is read-only.
    #[error("the medium is read-only")]
    ReadOnly,
    /// The access lies (partly) past the end of the medium.
    #[error("access at byte {offset} of {len} bytes is past the end of the medium")]
    OutOfRange { offset: u64, len: usize },
    /// The host file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The bytes of a disk or disc, addressed by byte offset.
pub trait BlockBackend: Send {
    /// Size of the medium in bytes.
    fn len(&self) -> u64;
    /// Whether writes are refused.
    fn is_read_only(&self) -> bool;
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Makes every write so far durable in the backing file.
    fn flush(&mut self) -> Result<(), BlockError>;
}

fn check_range(len: u64, offset: u64, n: usize) -> Result<(), BlockError> {
    match offset.checked_add(n as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(BlockError::OutOfRange { offset, len: n }),
    }
}

/// A raw image file opened read-write.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    len: u64,
}

impl RawFile {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(RawFile { file, len })
    }
}

impl BlockBackend for RawFile {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.len, offset, buf.len())?;
        Ok(self.file.read_exact_at(buf, offset)?)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        check_range(self.len, offset, data.len())?;
        Ok(self.file.write_all_at(data, offset)?)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(self.file.sync_data()?)
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        let _ = self.file.sync_data();
    }
}

/// A file opened read-only; writes are refused.
#[derive(Debug)]
pub struct ReadOnlyFile {
    file: File,
    len: u64,
}

impl ReadOnlyFile {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(ReadOnlyFile { file, len })
    }
}

impl BlockBackend for ReadOnlyFile {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_read_only(&self) -> bool {
        true
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.len, offset, buf.len())?;
        Ok(self.file.read_exact_at(buf, offset)?)
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// `--snapshot`: writes land in memory, 512-byte sector by sector, over a backend that is only
/// ever read.
pub struct Overlay {
    base: Box<dyn BlockBackend>,
    sectors: HashMap<u64, Box<[u8; SECTOR_SIZE as usize]>>,
}

impl Overlay {
    pub fn new(base: Box<dyn BlockBackend>) -> Self {
        Overlay { base, sectors: HashMap::new() }
    }

    /// Number of sectors written so far (held in memory).
    pub fn dirty_sectors(&self) -> usize {
        self.sectors.len()
    }
}

impl BlockBackend for Overlay {
    fn len(&self) -> u64 {
        self.base.len()
    }
    fn is_read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.len(), offset, buf.len())?;
        self.base.read_at(offset, buf)?;
        let mut pos = 0usize;
        while pos < buf.len() {
            let at = offset + pos as u64;
            let (sector, within) = (at / SECTOR_SIZE, (at % SECTOR_SIZE) as usize);
            let n = (SECTOR_SIZE as usize - within).min(buf.len() - pos);
            if let Some(s) = self.sectors.get(&sector) {
                buf[pos..pos + n].copy_from_slice(&s[within..within + n]);
            }
            pos += n;
        }
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        check_range(self.len(), offset, data.len())?;
        let mut pos = 0usize;
        while pos < data.len() {
            let at = offset + pos as u64;
            let (sector, within) = (at / SECTOR_SIZE, (at % SECTOR_SIZE) as usize);
            let n = (SECTOR_SIZE as usize - within).min(data.len() - pos);
            if !self.sectors.contains_key(&sector) {
                let mut s = Box::new([0u8; SECTOR_SIZE as usize]);
                let whole = (sector * SECTOR_SIZE + SECTOR_SIZE).min(self.len()) - sector * SECTOR_SIZE;
                self.base.read_at(sector * SECTOR_SIZE, &mut s[..whole as usize])?;
                self.sectors.insert(sector, s);
            }
            let s = self.sectors.get_mut(&sector).expect("inserted above");
            s[within..within + n].copy_from_slice(&data[pos..pos + n]);
            pos += n;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(()) // nothing to make durable: the overlay dies with the process by design
    }
}

/// Why a disk or CD-ROM image cannot be used.
#[derive(Debug, Error)]
pub enum DiskError {
    /// The image does not exist.
    #[error("disk image {0}: no such file")]
    Missing(PathBuf),
    /// The path names a directory.
    #[error("disk image {0} is a directory, not an image file")]
    Directory(PathBuf),
    /// The image cannot be opened for reading.
    #[error("disk image {path} cannot be read: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    /// The image holds no bytes.
    #[error("disk image {0} is empty")]
    Empty(PathBuf),
    /// A hard disk image must hold whole 512-byte sectors.
    #[error("disk image {path} is {len} bytes, not a multiple of 512-byte sectors")]
    NotSectorMultiple { path: PathBuf, len: u64 },
    /// The image cannot be written and `--snapshot` was not given.
    #[error("disk image {0} is read-only: give --snapshot to run with an in-memory overlay, or make it writable")]
    ReadOnly(PathBuf),
}

fn open_checked(path: &Path) -> Result<(File, u64), DiskError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(DiskError::Missing(path.into())),
        Err(source) => return Err(DiskError::Unreadable { path: path.into(), source }),
    };
    if meta.is_dir() {
        return Err(DiskError::Directory(path.into()));
    }
    let file = File::open(path).map_err(|source| DiskError::Unreadable { path: path.into(), source })?;
    let len = file.metadata().map_err(|source| DiskError::Unreadable { path: path.into(), source })?.len();
    if len == 0 {
        return Err(DiskError::Empty(path.into()));
    }
    Ok((file, len))
}

/// Opens a hard disk image for `--disk`. With `snapshot`, the image is opened read-only under an
/// in-memory [`Overlay`]; otherwise it must be writable (a file without write permission bits
/// counts as read-only even for root, who could open it anyway) and is used as a [`RawFile`].
pub fn open_disk(path: &Path, snapshot: bool) -> Result<Box<dyn BlockBackend>, DiskError> {
    let (file, len) = open_checked(path)?;
    if len % SECTOR_SIZE != 0 {
        return Err(DiskError::NotSectorMultiple { path: path.into(), len });
    }
    let unreadable = |source| DiskError::Unreadable { path: path.into(), source };
    if snapshot {
        return Ok(Box::new(Overlay::new(Box::new(ReadOnlyFile::new(file).map_err(unreadable)?))));
    }
    let read_only_bits = file.metadata().map_err(unreadable)?.permissions().readonly();
    let rw = OpenOptions::new().read(true).write(true).open(path);
    match rw {
        Ok(f) if !read_only_bits => Ok(Box::new(RawFile::new(f).map_err(unreadable)?)),
        Ok(_) => Err(DiskError::ReadOnly(path.into())),
        Err(e) if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) => {
            Err(DiskError::ReadOnly(path.into()))
        }
        Err(source) => Err(DiskError::Unreadable { path: path.into(), source }),
    }
}

/// Opens a CD-ROM image for `--cdrom`, read-only. Its capacity is its size in whole 2048-byte
/// sectors (a partial last sector is ignored).
pub fn open_cdrom(path: &Path) -> Result<Box<dyn BlockBackend>, DiskError> {
    let (file, _) = open_checked(path)?;
    Ok(Box::new(ReadOnlyFile::new(file).map_err(|source| DiskError::Unreadable { path: path.into(), source })?))
}

/// A backend in memory (tests, generated images).
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    pub data: Vec<u8>,
    pub read_only: bool,
    pub flushes: u32,
}

impl BlockBackend for MemBackend {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(self.len(), offset, buf.len())?;
        buf.copy_from_slice(&self.data[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(self.len(), offset, data.len())?;
        self.data[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.flushes += 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A unique path under the temp directory holding `data`; removed when dropped.
    pub struct TempImage(pub PathBuf);
    impl TempImage {
        pub fn new(tag: &str, data: &[u8]) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!("emu-ide-{}-{}-{}.img", tag, std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, data).unwrap();
            TempImage(path)
        }
        pub fn bytes(&self) -> Vec<u8> {
            std::fs::read(&self.0).unwrap()
        }
    }
    impl Drop for TempImage {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn open_disk_explains_what_is_wrong() {
        let dir = std::env::temp_dir();
        let missing = dir.join(format!("emu-ide-missing-{}", std::process::id()));
        assert!(matches!(open_disk(&missing, false), Err(DiskError::Missing(_))));
        assert!(matches!(open_disk(&dir, false), Err(DiskError::Directory(_))));
        let empty = TempImage::new("empty", b"");
        assert!(matches!(open_disk(&empty.0, false), Err(DiskError::Empty(_))));
        let odd = TempImage::new("odd", &[0; 1000]);
        let e = open_disk(&odd.0, true).err().unwrap();
        assert!(e.to_string().contains("1000 bytes, not a multiple of 512"), "{e}");
        let ro = TempImage::new("ro", &[0; 1024]);
        let mut perms = std::fs::metadata(&ro.0).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&ro.0, perms).unwrap();
        let e = open_disk(&ro.0, false).err().unwrap();
        assert!(matches!(e, DiskError::ReadOnly(_)));
        assert!(e.to_string().contains("--snapshot"));
        assert!(open_disk(&ro.0, true).is_ok());
    }

    #[test]
    fn overlay_reads_its_writes_and_never_touches_the_file() {
        let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        let img = TempImage::new("overlay", &data);
        let mut d = open_disk(&img.0, true).unwrap();
        d.write_at(510, &[0xaa; 4]).unwrap(); // straddles sectors 0 and 1
        d.flush().unwrap();
        let mut buf = [0u8; 8];
        d.read_at(508, &mut buf).unwrap();
        assert_eq!(buf, [252, 253, 0xaa, 0xaa, 0xaa, 0xaa, 2, 3]);
        assert!(matches!(d.write_at(4094, &[0; 4]), Err(BlockError::OutOfRange { .. })));
        drop(d);
        assert_eq!(img.bytes(), data);
    }

    #[test]
    fn raw_file_writes_reach_the_file() {
        let img = TempImage::new("raw", &[0; 1024]);
        let mut d = open_disk(&img.0, false).unwrap();
        d.write_at(512, b"hello").unwrap();
        d.flush().unwrap();
        assert_eq!(&img.bytes()[512..517], b"hello");
        let mut ro = open_cdrom(&img.0).unwrap();
        assert!(matches!(ro.write_at(0, b"x"), Err(BlockError::ReadOnly)));
    }
}
