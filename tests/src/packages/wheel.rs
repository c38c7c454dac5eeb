//! Wheels made by hand: a wheel is a zip archive of the package's files plus a `.dist-info`
//! directory (`METADATA`, `WHEEL`, `entry_points.txt`, `RECORD`). The zip writer here stores
//! entries uncompressed (method 0), which every zip reader, pip's included, accepts.

use base64::Engine;
use sha2::Digest;

/// The wheel `{name}-{version}-py3-none-any.whl` of a pure-Python project: `files` (path,
/// contents, mode) at the top of the archive, `metadata` as its `METADATA` (the text of a
/// `PKG-INFO`), and `entry_points` (the text of `entry_points.txt`) when there is one.
pub fn pure_python_wheel(
    name: &str,
    version: &str,
    files: &[(String, Vec<u8>, u32)],
    metadata: &[u8],
    entry_points: Option<&str>,
) -> Vec<u8> {
    let info = format!("{name}-{version}.dist-info");
    let mut entries: Vec<(String, Vec<u8>, u32)> = files.to_vec();
    entries.push((format!("{info}/METADATA"), metadata.to_vec(), 0o644));
    let wheel = "Wheel-Version: 1.0\nGenerator: addon-broker-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    entries.push((format!("{info}/WHEEL"), wheel.as_bytes().to_vec(), 0o644));
    if let Some(points) = entry_points {
        entries.push((format!("{info}/entry_points.txt"), points.as_bytes().to_vec(), 0o644));
    }
    let mut record = String::new();
    for (path, data, _) in &entries {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data));
        record.push_str(&format!("{path},sha256={digest},{}\n", data.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    entries.push((format!("{info}/RECORD"), record.into_bytes(), 0o644));
    zip_stored(&entries)
}

/// A zip archive of `entries` (path, contents, Unix mode), uncompressed, dated 1980-01-01.
pub fn zip_stored(entries: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    const DOS_DATE: u16 = (1 << 5) | 1; // 1980-01-01
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (path, data, mode) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let size = u32::try_from(data.len()).expect("zip entries under 4 GiB");
        let name_len = u16::try_from(path.len()).expect("short zip entry names");
        let offset = u32::try_from(out.len()).expect("zip archives under 4 GiB");
        // The local file header, then the data.
        put32(&mut out, 0x0403_4b50);
        for v in [20u16, 0, 0, 0, DOS_DATE] {
            put16(&mut out, v); // version needed, flags, method (stored), time, date
        }
        for v in [crc, size, size] {
            put32(&mut out, v);
        }
        put16(&mut out, name_len);
        put16(&mut out, 0);
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(data);
        // Its central directory record.
        put32(&mut central, 0x0201_4b50);
        for v in [(3u16 << 8) | 20, 20, 0, 0, 0, DOS_DATE] {
            put16(&mut central, v); // made by (Unix), needed, flags, method, time, date
        }
        for v in [crc, size, size] {
            put32(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            put16(&mut central, v); // name, extra, comment lengths, disk, internal attributes
        }
        put32(&mut central, (0o100_000 | mode) << 16); // external attributes: a regular file
        put32(&mut central, offset);
        central.extend_from_slice(path.as_bytes());
    }
    let count = u16::try_from(entries.len()).expect("fewer than 65536 zip entries");
    let central_offset = u32::try_from(out.len()).expect("zip archives under 4 GiB");
    let central_size = u32::try_from(central.len()).expect("zip archives under 4 GiB");
    out.extend_from_slice(&central);
    put32(&mut out, 0x0605_4b50);
    for v in [0u16, 0, count, count] {
        put16(&mut out, v);
    }
    put32(&mut out, central_size);
    put32(&mut out, central_offset);
    put16(&mut out, 0);
    out
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_zip_is_read_back_by_python() {
        let dir = tempfile::tempdir().unwrap();
        let zip = zip_stored(&[("a/b.txt".into(), b"hello\n".to_vec(), 0o644)]);
        std::fs::write(dir.path().join("t.zip"), zip).unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.testzip(); print(z.read('a/b.txt').decode(), end='')"])
            .arg(dir.path().join("t.zip"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, b"hello\n");
    }
}
