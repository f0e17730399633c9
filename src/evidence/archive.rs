//! The pack as a ZIP file: members STORED (a pack is small, and any unzip reads it), in a
//! fixed order, with one timestamp. Reading checks every member's CRC and that the file is
//! exactly as a pack is written (written again from its members, it comes out byte for byte
//! the same), so that no header, directory entry or trailing byte can be changed unnoticed.

use std::io::{Cursor, Read, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// One file of the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the file is not a ZIP archive that can be read: {0}")]
    Unreadable(String),
    #[error("member {name} cannot be read (its CRC or header does not hold): {detail}")]
    Member { name: String, detail: String },
    #[error("member {0} appears more than once")]
    Duplicate(String),
    #[error("the ZIP's headers or directory are not as a pack is written: bytes were changed, added or removed outside the members' contents")]
    NotCanonical,
}

/// The DOS time a pack's members carry (ZIP keeps local time to two seconds; the pack's
/// made-at time in UTC).
pub fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    zip::DateTime::from_date_and_time(
        at.year().clamp(1980, 2107) as u16,
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .unwrap_or_default()
}

/// The ZIP of `members`, in their order, each dated `at`.
pub fn write(members: &[Member], at: zip::DateTime) -> Result<Vec<u8>, zip::result::ZipError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(at)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for member in members {
        zip.start_file(member.name.as_str(), options)?;
        zip.write_all(&member.bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// The members of a pack's bytes, each read in full (which checks its CRC), after holding the
/// whole file to the form a pack is written in.
pub fn read(bytes: &[u8]) -> Result<Vec<Member>, ArchiveError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| ArchiveError::Unreadable(error.to_string()))?;
    let mut members: Vec<Member> = Vec::with_capacity(archive.len());
    let mut times = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut file = archive
            .by_index(index)
            .map_err(|error| ArchiveError::Unreadable(error.to_string()))?;
        let name = file.name().to_string();
        let mut content = Vec::with_capacity(file.size().min(1 << 26) as usize);
        file.read_to_end(&mut content)
            .map_err(|error| ArchiveError::Member {
                name: name.clone(),
                detail: error.to_string(),
            })?;
        if members.iter().any(|member| member.name == name) {
            return Err(ArchiveError::Duplicate(name));
        }
        times.push(file.last_modified().unwrap_or_default());
        members.push(Member {
            name,
            bytes: content,
        });
    }
    // Every member of a pack carries the same time; written again with it, a pack is the
    // same bytes.
    let at = times.first().copied().unwrap_or_default();
    if times.iter().any(|time| *time != at) {
        return Err(ArchiveError::NotCanonical);
    }
    match write(&members, at) {
        Ok(again) if again == bytes => Ok(members),
        _ => Err(ArchiveError::NotCanonical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn members() -> Vec<Member> {
        vec![
            Member {
                name: "a.txt".into(),
                bytes: b"first".to_vec(),
            },
            Member {
                name: "b.json".into(),
                bytes: b"{\"b\":2}".to_vec(),
            },
        ]
    }

    fn at() -> zip::DateTime {
        zip_time(Utc.with_ymd_and_hms(2026, 3, 10, 14, 31, 8).unwrap())
    }

    #[test]
    fn a_pack_reads_back_as_written() {
        let bytes = write(&members(), at()).unwrap();
        assert_eq!(read(&bytes).unwrap(), members());
    }

    #[test]
    fn the_layout_never_changes() {
        // Pinned: a change here means packs made before no longer verify.
        let bytes = write(&members(), at()).unwrap();
        assert_eq!(
            super::super::manifest::sha256_hex(&bytes),
            PINNED_LAYOUT,
            "the ZIP writer's output changed: packs already made would no longer verify"
        );
    }

    const PINNED_LAYOUT: &str = "5946c76ac211a596ec223b5c6cbed6f73030ddd4822aade2e64ed0a15b1f3a7e";

    #[test]
    fn every_byte_changed_is_noticed() {
        let bytes = write(&members(), at()).unwrap();
        for position in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[position] ^= 0x01;
            assert!(read(&changed).is_err(), "byte {position} changed unnoticed");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).is_err());
        assert!(read(&bytes[..bytes.len() - 1]).is_err());
    }
}
