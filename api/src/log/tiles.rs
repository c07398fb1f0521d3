//! C2SP tlog-tiles (https://c2sp.org/tlog-tiles) over the stored tree: tile paths and which
//! stored hashes and entries a tile holds (PROTOCOL.md section 9).
//!
//! Tiles have height 8. Hash `i` of the level-`L` tile `N` is the root of the perfect subtree
//! of 256^L leaves starting at leaf (N·256 + i)·256^L: the stored node at tree level 8L,
//! index N·256 + i (level 0 is the leaf hashes). Every such node is stored once its subtree
//! is complete (`log::tree::append`), so a tile is one range read and nothing is recomputed.

/// Hashes (or entries) in a full tile.
pub const WIDTH: u64 = 256;
/// The highest tile level whose hashes can exist (8·7 = 56 tree levels; 256^8 leaves would
/// overflow a u64 seq).
pub const MAX_LEVEL: u8 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// Level-`L` hash tile: `tile/<L>/<N>`.
    Hashes { level: u8 },
    /// Entry bundle: `tile/entries/<N>`.
    Entries,
}

/// A tile as its path names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub kind: TileKind,
    pub index: u64,
    /// `Some(w)` for a partial tile `.p/<w>` (1..=255).
    pub partial: Option<u8>,
}

/// Why a tile path is refused: the caller's mistake (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error("A tile path is <L>/<N>[.p/<W>] or entries/<N>[.p/<W>].")]
    Shape,
    #[error("The tile level must be a decimal 0-63 without leading zeros.")]
    Level,
    #[error(
        "The tile index must be written in 3-digit groups, every group but the last prefixed with x (x001/x234/067)."
    )]
    Index,
    #[error("A partial tile's width must be a decimal 1-255 without leading zeros.")]
    Width,
}

impl Tile {
    /// Parses the part of a tile URL after `tile/`, exactly as the spec spells it (one
    /// spelling per tile, so caches never hold two copies).
    pub fn parse(path: &str) -> Result<Tile, TilePathError> {
        let (head, rest) = path.split_once('/').ok_or(TilePathError::Shape)?;
        let kind = if head == "entries" {
            TileKind::Entries
        } else {
            let level = decimal(head, 63).ok_or(TilePathError::Level)?;
            TileKind::Hashes { level: level as u8 }
        };
        let (index_path, partial) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let w = decimal(width, 255)
                    .filter(|w| *w >= 1)
                    .ok_or(TilePathError::Width)?;
                (index, Some(w as u8))
            }
            None => (rest, None),
        };
        let index = parse_index(index_path).ok_or(TilePathError::Index)?;
        Ok(Tile {
            kind,
            index,
            partial,
        })
    }

    /// The tile's path after `tile/` (the inverse of [`Tile::parse`]).
    pub fn path(&self) -> String {
        let head = match self.kind {
            TileKind::Hashes { level } => level.to_string(),
            TileKind::Entries => "entries".to_owned(),
        };
        let mut out = format!("{head}/{}", format_index(self.index));
        if let Some(w) = self.partial {
            out.push_str(&format!(".p/{w}"));
        }
        out
    }

    /// Hashes or entries it holds.
    pub fn width(&self) -> u64 {
        self.partial.map_or(WIDTH, u64::from)
    }

    /// The tree level its hashes sit at (0 for entry bundles: their leaves); `None` above
    /// [`MAX_LEVEL`], where no tile can exist.
    pub fn tree_level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hashes { level } if level > MAX_LEVEL => None,
            TileKind::Hashes { level } => Some(8 * level),
            TileKind::Entries => Some(0),
        }
    }

    /// The stored-node indexes it holds at [`Tile::tree_level`]: `[first, first + width)`,
    /// or `None` when that overflows (no such tile can exist).
    pub fn node_range(&self) -> Option<(u64, u64)> {
        let first = self.index.checked_mul(WIDTH)?;
        Some((first, first.checked_add(self.width())?))
    }

    /// Whether a tree of `size` leaves holds every hash of this tile (each a complete
    /// subtree): then the tile exists, and its bytes never change.
    pub fn within(&self, size: u64) -> bool {
        let (Some((_, end)), Some(level)) = (self.node_range(), self.tree_level()) else {
            return false;
        };
        let leaves_per_node = 1u128 << level;
        u128::from(end) * leaves_per_node <= u128::from(size)
    }
}

/// A decimal in 0..=max without leading zeros ("0" itself is fine).
fn decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok().filter(|v| *v <= max)
}

/// `x001/x234/067` → 1234067: 3-digit groups, all but the last prefixed with `x`, no
/// leading all-zero group.
fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let (last, init) = groups.split_last()?;
    let mut value: u64 = 0;
    for (i, g) in init.iter().enumerate() {
        let digits = g.strip_prefix('x')?;
        let group = three_digits(digits)?;
        if i == 0 && group == 0 {
            return None; // x000/…: a second spelling of a smaller index
        }
        value = value.checked_mul(1000)?.checked_add(group)?;
    }
    value.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn format_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// The entry bundle format: each entry a big-endian uint16 length, then its bytes. `None`
/// if an entry is longer than 65,535 bytes (an envelope never is: its fields are bounded).
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).ok()?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's examples: 1234067 is `x001/x234/067`, 5 is `005`.
    #[test]
    fn index_paths_follow_the_spec_examples() {
        assert_eq!(format_index(1_234_067), "x001/x234/067");
        assert_eq!(format_index(5), "005");
        assert_eq!(format_index(1000), "x001/000");
        assert_eq!(parse_index("x001/x234/067"), Some(1_234_067));
        assert_eq!(parse_index("005"), Some(5));
        for n in [0, 1, 999, 1000, 256_000, u64::MAX / 256, u64::MAX] {
            assert_eq!(parse_index(&format_index(n)), Some(n), "{n}");
        }
    }

    #[test]
    fn every_tile_has_one_spelling() {
        for good in [
            "0/000",
            "0/x001/x234/067",
            "63/005.p/1",
            "1/000.p/255",
            "entries/x003/999.p/17",
        ] {
            assert_eq!(Tile::parse(good).unwrap().path(), good);
        }
        for (bad, err) in [
            ("", TilePathError::Shape),
            ("0", TilePathError::Shape),
            ("00/000", TilePathError::Level),
            ("64/000", TilePathError::Level),
            ("-1/000", TilePathError::Level),
            ("data/000", TilePathError::Level),
            ("0/5", TilePathError::Index),
            ("0/0005", TilePathError::Index),
            ("0/x000/005", TilePathError::Index),
            ("0/001/234", TilePathError::Index),
            ("0/x001/x234", TilePathError::Index),
            ("0/x001/", TilePathError::Index),
            ("0/000/", TilePathError::Index),
            ("0/000.p/0", TilePathError::Width),
            ("0/000.p/256", TilePathError::Width),
            ("0/000.p/01", TilePathError::Width),
            ("0/000.p/", TilePathError::Width),
            ("entries/000.p/1/x", TilePathError::Width),
            (
                "0/x999/x999/x999/x999/x999/x999/x999/999",
                TilePathError::Index,
            ),
        ] {
            assert_eq!(Tile::parse(bad), Err(err), "{bad:?}");
        }
    }

    /// The spec's example: a tree of 70,000 leaves has 273 full level-0 tiles, a level-0
    /// `.p/112`, one full level-1 tile, a level-1 `.p/17` and a level-2 `.p/1`.
    #[test]
    fn which_tiles_a_tree_holds() {
        let t = |s: &str| Tile::parse(s).unwrap();
        let size = 70_000;
        assert!(t("0/272").within(size));
        assert!(!t("0/273").within(size));
        assert!(t("0/273.p/112").within(size));
        assert!(!t("0/273.p/113").within(size));
        assert!(t("1/000").within(size));
        assert!(t("1/001.p/17").within(size));
        assert!(!t("1/001.p/18").within(size));
        assert!(t("2/000.p/1").within(size));
        assert!(!t("2/000.p/2").within(size));
        assert!(!t("3/000.p/1").within(size));
        assert!(t("entries/273.p/112").within(size));
        assert!(!t("63/000.p/1").within(u64::MAX));
        assert!(!t("0/x072/x057/x594/x037/x927/936").within(u64::MAX));
    }

    #[test]
    fn entry_bundles_are_length_prefixed() {
        let bundle = entry_bundle([&b"ab"[..], &b""[..], &[7u8; 300][..]]).unwrap();
        assert_eq!(&bundle[..4], &[0, 2, b'a', b'b']);
        assert_eq!(&bundle[4..6], &[0, 0]);
        assert_eq!(&bundle[6..8], &[1, 44]);
        assert_eq!(bundle.len(), 8 + 300);
        assert!(entry_bundle([&vec![0u8; 65_536][..]]).is_none());
    }
}
