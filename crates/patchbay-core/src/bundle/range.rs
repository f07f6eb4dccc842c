//! Versions and the npm version ranges a manifest's `compatibility.runtimes` writes
//! (`>=18.0.0`, `>=3.10 <4`, `^20`, `18.x || 20.x`, `1.2 - 2.3`).
//!
//! The npm subset: comparators (`<`, `<=`, `>`, `>=`, `=`), spaces between them meaning "and",
//! `||` meaning "or", `x`/`X`/`*` wildcards and missing parts, caret, tilde and hyphen ranges,
//! a `v` prefix. Each range is read into plain comparators the way node-semver desugars it
//! (`^1.2` is `>=1.2.0 <2.0.0-0`). A prerelease version (`3.13.0rc1`, `v23.0.0-nightly`) sorts
//! below its release, as semver orders it; npm's rule that keeps prereleases out of ranges is
//! not applied, since a runtime on this machine is not a package being chosen.

use std::cmp::Ordering;

/// A version: three numbers and a prerelease (empty for a release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The major, minor and patch numbers.
    pub numbers: [u64; 3],
    /// Prerelease identifiers (`rc1`, `0`), compared as semver compares them.
    pub pre: Vec<String>,
}

impl Version {
    fn release(numbers: [u64; 3]) -> Self {
        Self {
            numbers,
            pre: Vec::new(),
        }
    }

    /// The lowest version of a release line (`2.0.0-0`): an exclusive upper bound that keeps
    /// that release's prereleases out, as npm writes it.
    fn floor(numbers: [u64; 3]) -> Self {
        Self {
            numbers,
            pre: vec!["0".into()],
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [major, minor, patch] = self.numbers;
        write!(f, "{major}.{minor}.{patch}")?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semver precedence of prerelease identifiers: numbers numerically and below words.
fn compare_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// The version a runtime printed for `--version` (`v20.11.1`, `Python 3.13.0rc1`): the first
/// word starting with a digit (after an optional `v`), its missing parts zero, a prerelease
/// after `-` or straight after the numbers (`rc1`), build metadata (`+...`) dropped.
pub fn printed_version(text: &str) -> Option<Version> {
    let word = text.split_whitespace().find_map(|word| {
        let word = word.strip_prefix(['v', 'V']).unwrap_or(word);
        word.starts_with(|c: char| c.is_ascii_digit())
            .then_some(word)
    })?;
    let word = word.split('+').next().unwrap_or(word);
    let end = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(word.len());
    let (numbers_text, rest) = word.split_at(end);
    let mut numbers = [0u64; 3];
    let parts: Vec<&str> = numbers_text.trim_end_matches('.').split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = part.parse().ok()?;
    }
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let pre = match rest.is_empty() {
        true => Vec::new(),
        false => rest.split('.').map(str::to_owned).collect(),
    };
    Some(Version { numbers, pre })
}

/// Why a range was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{part}` is not a version range npm reads ({why})")]
pub struct RangeError {
    /// The part at fault.
    pub part: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// A range as written, and what it means: any of its sets, each a list of comparators all met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    text: String,
    sets: Vec<Vec<Comparator>>,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Equal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

impl Comparator {
    fn new(op: Op, version: Version) -> Self {
        Self { op, version }
    }

    fn matches(&self, v: &Version) -> bool {
        let order = v.cmp(&self.version);
        match self.op {
            Op::Less => order == Ordering::Less,
            Op::LessEq => order != Ordering::Greater,
            Op::Greater => order == Ordering::Greater,
            Op::GreaterEq => order != Ordering::Less,
            Op::Equal => order == Ordering::Equal,
        }
    }
}

/// A version as a range writes it: up to three parts, each a number or a wildcard.
struct Partial {
    /// The numbers given before the first wildcard or missing part.
    numbers: Vec<u64>,
    pre: Vec<String>,
}

impl Partial {
    fn read(text: &str) -> Result<Self, RangeError> {
        let bad = |why| RangeError {
            part: text.to_owned(),
            why,
        };
        let text = text.strip_prefix(['v', 'V', '=']).unwrap_or(text);
        let text = text.split('+').next().unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((_, "")) => return Err(bad("an empty prerelease")),
            Some((core, pre)) => (core, pre.split('.').map(str::to_owned).collect()),
            None => (text, Vec::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if core.is_empty() || parts.len() > 3 {
            return Err(bad("a version has one to three parts"));
        }
        let mut numbers = Vec::new();
        let mut wild = false;
        for part in parts {
            match part {
                "x" | "X" | "*" => wild = true,
                _ if wild => return Err(bad("a number after a wildcard")),
                _ => numbers.push(part.parse().map_err(|_| bad("a part is not a number"))?),
            }
        }
        if !pre.is_empty() && numbers.len() < 3 {
            return Err(bad("a prerelease needs all three numbers"));
        }
        Ok(Self { numbers, pre })
    }

    fn at(&self, n: usize) -> u64 {
        self.numbers.get(n).copied().unwrap_or(0)
    }

    fn lowest(&self) -> Version {
        Version {
            numbers: [self.at(0), self.at(1), self.at(2)],
            pre: self.pre.clone(),
        }
    }

    /// The first release line above this partial's (`1.2` -> `1.3.0`); `None` for `*`.
    fn next_line(&self) -> Option<[u64; 3]> {
        match self.numbers.len() {
            0 => None,
            1 => Some([self.at(0) + 1, 0, 0]),
            2 => Some([self.at(0), self.at(1) + 1, 0]),
            _ => Some([self.at(0), self.at(1), self.at(2) + 1]),
        }
    }

    fn complete(&self) -> bool {
        self.numbers.len() == 3
    }
}

impl Range {
    /// The range in `text`; empty and `*` take any version.
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let sets = (text.split("||"))
            .map(|set| read_set(set.trim()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.trim().to_owned(),
            sets,
        })
    }

    /// Whether `version` is in the range.
    pub fn matches(&self, version: &Version) -> bool {
        (self.sets.iter()).any(|set| set.iter().all(|c| c.matches(version)))
    }
}

/// One `||` alternative: a hyphen range or comparators separated by spaces.
fn read_set(text: &str) -> Result<Vec<Comparator>, RangeError> {
    let words = glue_operators(text)?;
    if let [low, dash, high] = words.as_slice()
        && dash == "-"
    {
        let (low, high) = (Partial::read(low)?, Partial::read(high)?);
        let mut set = vec![Comparator::new(Op::GreaterEq, low.lowest())];
        match (high.complete(), high.next_line()) {
            (true, _) => set.push(Comparator::new(Op::LessEq, high.lowest())),
            (false, Some(next)) => set.push(Comparator::new(Op::Less, Version::floor(next))),
            (false, None) => {}
        }
        return Ok(set);
    }
    let mut set = Vec::new();
    for word in &words {
        set.extend(read_comparator(word)?);
    }
    Ok(set)
}

/// The words of a set, an operator written apart from its version (`>= 18`) joined to it.
fn glue_operators(text: &str) -> Result<Vec<String>, RangeError> {
    let mut words: Vec<String> = Vec::new();
    let mut pending: Option<&str> = None;
    for word in text.split_whitespace() {
        match pending.take() {
            Some(op) => words.push(format!("{op}{word}")),
            None if matches!(word, "<" | "<=" | ">" | ">=" | "=" | "^" | "~" | "~>") => {
                pending = Some(word);
            }
            None => words.push(word.to_owned()),
        }
    }
    match pending {
        Some(op) => Err(RangeError {
            part: op.to_owned(),
            why: "an operator without a version",
        }),
        None => Ok(words),
    }
}

/// One word of a set as the comparators it means.
fn read_comparator(word: &str) -> Result<Vec<Comparator>, RangeError> {
    let (op, rest) = ["<=", ">=", "~>", "<", ">", "=", "^", "~"]
        .iter()
        .find_map(|op| word.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("", word));
    let v = Partial::read(rest)?;
    let lowest = v.lowest();
    let one = |op, version| vec![Comparator::new(op, version)];
    Ok(match op {
        "^" => bounded(lowest, caret_upper(&v)),
        "~" | "~>" => {
            let upper = match v.numbers.len() {
                0 => None,
                1 => Some([v.at(0) + 1, 0, 0]),
                _ => Some([v.at(0), v.at(1) + 1, 0]),
            };
            bounded(lowest, upper)
        }
        ">=" => one(Op::GreaterEq, lowest),
        ">" if v.complete() => one(Op::Greater, lowest),
        ">" => match v.next_line() {
            Some(next) => one(Op::GreaterEq, Version::release(next)),
            None => one(Op::Less, Version::floor([0, 0, 0])),
        },
        "<" if v.complete() => one(Op::Less, lowest),
        "<" => one(Op::Less, Version::floor(lowest.numbers)),
        "<=" if v.complete() => one(Op::LessEq, lowest),
        "<=" => match v.next_line() {
            Some(next) => one(Op::Less, Version::floor(next)),
            None => Vec::new(),
        },
        _ if v.complete() => one(Op::Equal, lowest),
        _ => bounded(lowest, v.next_line()),
    })
}

/// The release line a caret range stops below: the first non-zero part given goes up.
fn caret_upper(v: &Partial) -> Option<[u64; 3]> {
    let (major, minor, patch) = (v.at(0), v.at(1), v.at(2));
    match v.numbers.len() {
        0 => None,
        1 => Some([major + 1, 0, 0]),
        _ if major > 0 => Some([major + 1, 0, 0]),
        2 => Some([0, minor + 1, 0]),
        _ if minor > 0 => Some([0, minor + 1, 0]),
        _ => Some([0, 0, patch + 1]),
    }
}

/// `>=lowest`, and `<upper-0` when there is an upper line.
fn bounded(lowest: Version, upper: Option<[u64; 3]>) -> Vec<Comparator> {
    let mut set = vec![Comparator::new(Op::GreaterEq, lowest)];
    if let Some(upper) = upper {
        set.push(Comparator::new(Op::Less, Version::floor(upper)));
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        printed_version(text).expect(text)
    }

    fn within(range: &str, version: &str) -> bool {
        Range::parse(range).expect(range).matches(&v(version))
    }

    #[test]
    fn runtimes_print_versions_that_read() {
        assert_eq!(v("v20.11.1\n"), Version::release([20, 11, 1]));
        assert_eq!(v("Python 3.12.3"), Version::release([3, 12, 3]));
        assert_eq!(v("Python 3.13.0rc1").to_string(), "3.13.0-rc1");
        assert_eq!(v("Python 3.14.0a1+").to_string(), "3.14.0-a1");
        assert_eq!(v("v23.0.0-nightly2024").to_string(), "23.0.0-nightly2024");
        assert_eq!(v("3.10").to_string(), "3.10.0", "missing parts are zero");
        assert_eq!(printed_version("command not found"), None);
        assert_eq!(printed_version("1.2.3.4"), None);
    }

    #[test]
    fn npm_ranges_match_as_npm_reads_them() {
        for (range, inside, outside) in [
            (
                ">=18.0.0",
                &["18.0.0", "22.1.0"][..],
                &["17.9.9", "18.0.0-rc1"][..],
            ),
            (">=18", &["18.0.0", "v20.11.1"], &["16.20.0"]),
            (">= 18", &["18.0.0"], &["17.0.0"]),
            (
                ">=3.10 <4",
                &["3.10.0", "3.13.1"],
                &["3.9.18", "4.0.0", "4.0.0-a1"],
            ),
            ("^20", &["20.0.0", "20.99.0"], &["19.9.0", "21.0.0"]),
            ("^1.2.3", &["1.2.3", "1.9.0"], &["1.2.2", "2.0.0"]),
            ("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0"]),
            ("^0.0.3", &["0.0.3"], &["0.0.4"]),
            ("^0.x", &["0.0.1", "0.9.0"], &["1.0.0"]),
            ("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]),
            ("~1", &["1.0.0", "1.9.9"], &["2.0.0"]),
            ("18.x || 20.x", &["18.1.0", "20.0.0"], &["19.0.0", "21.0.0"]),
            ("3.10.*", &["3.10.5"], &["3.11.0"]),
            ("1.2 - 2.3", &["1.2.0", "2.3.9"], &["1.1.9", "2.4.0"]),
            ("1.2.3 - 2.3.4", &["2.3.4"], &["2.3.5"]),
            ("<20", &["19.9.9"], &["20.0.0", "20.0.0-rc1"]),
            ("<=3.11", &["3.11.7"], &["3.12.0"]),
            (">3.9", &["3.10.0"], &["3.9.9"]),
            ("=20.11.1", &["20.11.1"], &["20.11.2"]),
            ("v20.11.1", &["20.11.1"], &["20.11.0"]),
            (
                ">=1.2.3-beta.2",
                &["1.2.3-beta.10", "1.2.3"],
                &["1.2.3-beta.1", "1.2.3-alpha"],
            ),
            ("*", &["0.0.1", "99.0.0"], &[]),
            ("", &["1.0.0"], &[]),
        ] {
            for version in inside {
                assert!(within(range, version), "`{range}` takes {version}");
            }
            for version in outside {
                assert!(!within(range, version), "`{range}` refuses {version}");
            }
        }
    }

    #[test]
    fn a_range_npm_does_not_read_is_refused_naming_the_part() {
        for (range, part) in [
            (">=abc", "abc"),
            (">=", ">="),
            ("18.x.1", "18.x.1"),
            ("1.2.3.4", "1.2.3.4"),
            ("^", "^"),
            ("node 18", "node"),
        ] {
            let err = Range::parse(range).expect_err(range);
            assert_eq!(err.part, part, "`{range}`: {err}");
        }
    }
}
