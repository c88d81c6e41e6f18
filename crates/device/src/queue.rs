//! The offline queue: QoS 1 publishes kept on disk until the broker has
//! acknowledged them, in order, across lost connections and reboots.
//!
//! One file per message in a directory (`<sequence>.msg`, written to a
//! temporary name, synced, renamed, the directory synced): a message is
//! either wholly there or not at all, and removing it once acknowledged is
//! one unlink. At start the directory is the queue, oldest first. Bounded
//! by a message count and a byte total; a full queue refuses new messages
//! (the caller hears it) rather than dropping old ones.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::DeviceError;

const MAGIC: &[u8; 4] = b"KQ1\n";

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub seq: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max_messages: usize,
    max_bytes: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Sequence → file size.
    pending: BTreeMap<u64, u64>,
    bytes: u64,
    next_seq: u64,
}

/// The bytes of a message file.
pub fn encode(topic: &str, payload: &[u8], retain: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + topic.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.push(u8::from(retain));
    out.extend_from_slice(payload);
    out
}

/// A message file's contents, or why it is not one.
pub fn decode(bytes: &[u8]) -> Result<(String, Vec<u8>, bool), String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("not a queued message")?;
    let len = rest.get(..2).ok_or("truncated")?;
    let len = u16::from_be_bytes([len[0], len[1]]) as usize;
    let topic = rest.get(2..2 + len).ok_or("truncated topic")?;
    let topic = std::str::from_utf8(topic).map_err(|_| "topic is not UTF-8")?;
    let flags = *rest.get(2 + len).ok_or("truncated")?;
    Ok((topic.to_owned(), rest[3 + len..].to_vec(), flags & 1 != 0))
}

fn name(seq: u64) -> String {
    format!("{seq:020}.msg")
}

impl Queue {
    /// Open (or create, mode 0700) the queue in `dir`.
    pub fn open(dir: &Path, max_messages: usize, max_bytes: u64) -> Result<Queue, DeviceError> {
        let unusable = |e: std::io::Error| DeviceError::unreadable("queue directory", dir, e);
        std::fs::create_dir_all(dir).map_err(unusable)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut state = State::default();
        for entry in std::fs::read_dir(dir).map_err(unusable)? {
            let entry = entry.map_err(unusable)?;
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if file.ends_with(".tmp") {
                // A write a crash interrupted: never acknowledged to anyone.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = file
                .strip_suffix(".msg")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata().map_err(unusable)?.len();
            state.pending.insert(seq, size);
            state.bytes += size;
            state.next_seq = state.next_seq.max(seq + 1);
        }
        Ok(Queue {
            dir: dir.to_owned(),
            max_messages,
            max_bytes,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a message; returns once it is on disk.
    pub fn push(&self, topic: &str, payload: &[u8], retain: bool) -> Result<u64, DeviceError> {
        let bytes = encode(topic, payload, retain);
        let mut st = self.lock();
        if st.pending.len() >= self.max_messages || st.bytes + bytes.len() as u64 > self.max_bytes {
            return Err(DeviceError::Invalid(format!(
                "the offline queue {} is full ({} messages, {} bytes; limits {} and {}): the broker has been unreachable for long, or raise the limits",
                self.dir.display(),
                st.pending.len(),
                st.bytes,
                self.max_messages,
                self.max_bytes
            )));
        }
        let seq = st.next_seq;
        let path = self.dir.join(name(seq));
        let tmp = self.dir.join(format!("{}.tmp", name(seq)));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DeviceError::Invalid(format!(
                "cannot write to the offline queue {}: {e}",
                self.dir.display()
            ))
        })?;
        st.next_seq += 1;
        st.pending.insert(seq, bytes.len() as u64);
        st.bytes += bytes.len() as u64;
        Ok(seq)
    }

    /// The oldest message, if any.
    pub fn first(&self) -> Result<Option<Queued>, DeviceError> {
        loop {
            let Some(seq) = self.lock().pending.keys().next().copied() else {
                return Ok(None);
            };
            let path = self.dir.join(name(seq));
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| decode(&b))
            {
                Ok((topic, payload, retain)) => {
                    return Ok(Some(Queued {
                        seq,
                        topic,
                        payload,
                        retain,
                    }))
                }
                Err(why) => {
                    // Not ours or damaged: set it aside, go on.
                    tracing_free_warn(&path, &why);
                    let _ = std::fs::rename(&path, path.with_extension("bad"));
                    self.forget(seq);
                }
            }
        }
    }

    /// The broker acknowledged `seq`: remove it.
    pub fn remove(&self, seq: u64) -> Result<(), DeviceError> {
        let path = self.dir.join(name(seq));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DeviceError::Invalid(format!(
                    "cannot remove {} from the offline queue: {e}",
                    path.display()
                )))
            }
        }
        self.forget(seq);
        Ok(())
    }

    fn forget(&self, seq: u64) {
        let mut st = self.lock();
        if let Some(size) = st.pending.remove(&seq) {
            st.bytes -= size;
        }
    }
}

fn tracing_free_warn(path: &Path, why: &str) {
    eprintln!(
        "kumo-device: {} is not a queued message ({why}); set aside as .bad",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_a_reopen_in_order_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 100, 1 << 20).unwrap();
        for i in 0..3 {
            q.push("raspi2/t", format!("m{i}").as_bytes(), i == 2)
                .unwrap();
        }
        drop(q);
        // A crash mid-write leaves a .tmp: ignored and cleaned.
        std::fs::write(dir.path().join("00000000000000000009.msg.tmp"), b"half").unwrap();
        let q = Queue::open(dir.path(), 100, 1 << 20).unwrap();
        assert_eq!(q.len(), 3);
        let first = q.first().unwrap().unwrap();
        assert_eq!(
            (first.topic.as_str(), first.payload.as_slice()),
            ("raspi2/t", &b"m0"[..])
        );
        q.remove(first.seq).unwrap();
        assert_eq!(q.first().unwrap().unwrap().payload, b"m1");
        // New messages come after the old ones.
        let seq = q.push("raspi2/t", b"m3", false).unwrap();
        assert!(seq > first.seq + 2);
        q.remove(q.first().unwrap().unwrap().seq).unwrap();
        let third = q.first().unwrap().unwrap();
        assert!(third.retain);
        assert!(!dir.path().join("00000000000000000009.msg.tmp").exists());
    }

    #[test]
    fn a_full_queue_refuses_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 2, 1 << 20).unwrap();
        q.push("t", b"1", false).unwrap();
        q.push("t", b"2", false).unwrap();
        let e = q.push("t", b"3", false).unwrap_err().to_string();
        assert!(e.contains("is full (2 messages"), "{e}");
        let q = Queue::open(dir.path(), 100, 30).unwrap();
        assert!(q.push("t", &[0; 40], false).is_err());
    }

    #[test]
    fn damaged_files_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name(1)), b"garbage").unwrap();
        let q = Queue::open(dir.path(), 10, 1 << 20).unwrap();
        q.push("t", b"ok", false).unwrap();
        assert_eq!(q.first().unwrap().unwrap().payload, b"ok");
        assert!(dir.path().join("00000000000000000001.bad").exists());
    }

    #[test]
    fn the_file_format_round_trips() {
        let b = encode("a/b", b"\x00\xffpayload", true);
        assert_eq!(
            decode(&b).unwrap(),
            ("a/b".into(), b"\x00\xffpayload".to_vec(), true)
        );
        assert!(decode(b"KQ1\n\x00\x09ab").is_err());
    }
}
