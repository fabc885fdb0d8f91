//! Writing a finished file: `client<R>_<name>`, its hashes in order, one per line.
//!
//! Written whole or not at all: the lines go to a hidden temporary name first, which is then
//! renamed over the final one, so an aborted run never leaves a half-written `client*` file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::model::{FileName, PeerId, SegmentHash};

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The path a peer's copy of a file is written to.
pub fn output_path(dir: &Path, peer: PeerId, name: &FileName) -> PathBuf {
    dir.join(format!("client{peer}_{name}"))
}

pub fn write_file(dir: &Path, peer: PeerId, name: &FileName, hashes: &[SegmentHash]) -> Result<(), OutputError> {
    let path = output_path(dir, peer, name);
    // The leading dot keeps the temporary out of `client*` globs.
    let temporary = dir.join(format!(".client{peer}_{name}.partial"));
    let mut text = Vec::with_capacity(hashes.len() * (SegmentHash::LEN + 1));
    for hash in hashes {
        text.extend_from_slice(&hash.0);
        text.push(b'\n');
    }
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&text)?;
        drop(file);
        std::fs::rename(&temporary, &path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        OutputError { path: path.clone(), source }
    })
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn writes_one_hash_per_line_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("bitorrent-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hashes = [SegmentHash([b'a'; 32]), SegmentHash([b'b'; 32])];
        let name = FileName::new("file1").unwrap();
        write_file(&dir, PeerId(3), &name, &hashes).unwrap();
        let written = std::fs::read_to_string(dir.join("client3_file1")).unwrap();
        assert_eq!(written, format!("{}\n{}\n", "a".repeat(32), "b".repeat(32)));
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_removes_its_temporary_and_names_the_final_file() {
        let dir = std::env::temp_dir().join(format!("bitorrent-output-failed-{}", std::process::id()));
        // A folder where the file should go: the temporary is written, the rename fails.
        std::fs::create_dir_all(dir.join("client2_f").join("in-the-way")).unwrap();
        let err = write_file(&dir, PeerId(2), &FileName::new("f").unwrap(), &[SegmentHash([b'a'; 32])]).unwrap_err();
        assert_eq!(err.path, dir.join("client2_f"), "{err}");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["client2_f"], "the temporary is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let dir = Path::new("/nonexistent/bitorrent");
        let err = write_file(dir, PeerId(1), &FileName::new("f").unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bitorrent/client1_f"), "{err}");
    }
}
