//! Quantities written with their unit in a string ("100 MiB", "1.5 Mbit/s", "50 ms"), read into
//! exact integers in a base unit: bytes, bits per second, nanoseconds; and shares written as a
//! percentage ("5%"), read into parts per million.
//!
//! The simulated engine orders events by integer nanoseconds so that a run is the same on every
//! machine; a quantity that went through an `f64` on its way in would break that at the source.
//! So a decimal is read as an integer mantissa and a count of decimal places, and is accepted
//! only when it is a whole number of the base unit ("1.5 kB" is 1500 bytes; "1.5 B" is refused,
//! not rounded). Zero is a valid quantity here: whether a zero makes sense is the caller's call
//! (a free rider uploads at 0 bit/s; a file of 0 bytes is refused by the swarm file).
//!
//! Units are case-sensitive, because "Mb" and "MB" differ by a factor of eight.

use std::fmt;
use std::str::FromStr;

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

/// A rate in bits per second (network rates are quoted in bits; "8 Mbit/s" is 1 MB/s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BitsPerSecond(pub u64);

/// A duration in nanoseconds, the simulated clock's tick (u64: 584 years).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanoseconds(pub u64);

/// What a quantity measures: each kind has its own units and base unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Size,
    Rate,
    Duration,
}

/// A unit's symbol and how many base units it is.
struct Unit {
    symbol: &'static str,
    factor: u64,
}

const fn unit(symbol: &'static str, factor: u64) -> Unit {
    Unit { symbol, factor }
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sizes, in bytes. Decimal prefixes are powers of 1000, binary ones (Ki, Mi, Gi) of 1024.
const SIZE_UNITS: &[Unit] = &[
    unit("B", 1),
    unit("kB", 1_000),
    unit("KiB", KIB),
    unit("MB", 1_000_000),
    unit("MiB", MIB),
    unit("GB", 1_000_000_000),
    unit("GiB", GIB),
];

/// Rates, in bits per second: a byte is 8 bits, so "1 KiB/s" is 8 * 1024 bit/s.
const RATE_UNITS: &[Unit] = &[
    unit("bit/s", 1),
    unit("kbit/s", 1_000),
    unit("Mbit/s", 1_000_000),
    unit("Gbit/s", 1_000_000_000),
    unit("B/s", 8),
    unit("kB/s", 8 * 1_000),
    unit("KiB/s", 8 * KIB),
    unit("MB/s", 8 * 1_000_000),
    unit("MiB/s", 8 * MIB),
];

/// Durations, in nanoseconds. Both spellings of microseconds are accepted because "µ" is hard to
/// type; "us" is the one printed.
const DURATION_UNITS: &[Unit] = &[
    unit("ns", 1),
    unit("us", 1_000),
    unit("µs", 1_000),
    unit("ms", 1_000_000),
    unit("s", 1_000_000_000),
    unit("min", 60 * 1_000_000_000),
    unit("h", 3_600 * 1_000_000_000),
];

/// Common spellings that are not units here, and the unit that was probably meant.
const LIKELY_MEANT: &[(&str, &str)] = &[
    ("bps", "bit/s"),
    ("kbps", "kbit/s"),
    ("Kbps", "kbit/s"),
    ("Mbps", "Mbit/s"),
    ("Gbps", "Gbit/s"),
    ("kb/s", "kbit/s"),
    ("Kb/s", "kbit/s"),
    ("Mb/s", "Mbit/s"),
    ("Gb/s", "Gbit/s"),
    ("KB", "kB or KiB"),
    ("KB/s", "kB/s or KiB/s"),
    ("sec", "s"),
    ("m", "min (or ms)"),
];

impl Kind {
    fn units(self) -> &'static [Unit] {
        match self {
            Kind::Size => SIZE_UNITS,
            Kind::Rate => RATE_UNITS,
            Kind::Duration => DURATION_UNITS,
        }
    }

    /// The units `Display` chooses from. Rates print in bits only: "80 Mbit/s" rather than
    /// "10 MB/s", because that is how links are quoted. "us" rather than "µs": outputs stay ASCII.
    fn display_units(self) -> impl Iterator<Item = &'static Unit> {
        self.units().iter().filter(move |u| match self {
            Kind::Size => true,
            Kind::Rate => u.symbol.ends_with("bit/s"),
            Kind::Duration => u.symbol != "µs",
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Size => "size",
            Kind::Rate => "rate",
            Kind::Duration => "duration",
        }
    }

    /// The base unit, spelt out for messages ("a whole number of bytes").
    fn base(self) -> &'static str {
        match self {
            Kind::Size => "bytes",
            Kind::Rate => "bits per second",
            Kind::Duration => "nanoseconds",
        }
    }

    /// The unit zero is printed in: "0 s" reads better than "0 ns".
    fn zero_symbol(self) -> &'static str {
        match self {
            Kind::Size => "B",
            Kind::Rate => "bit/s",
            Kind::Duration => "s",
        }
    }

    /// A quantity of this kind as a file would write it, quotes included, for messages.
    pub fn example(self) -> &'static str {
        match self {
            Kind::Size => "\"100 MiB\"",
            Kind::Rate => "\"10 Mbit/s\"",
            Kind::Duration => "\"50 ms\"",
        }
    }

    fn accepted(self) -> String {
        self.units().iter().map(|u| u.symbol).collect::<Vec<_>>().join(", ")
    }
}

/// Why a quantity could not be read. `text` is the quantity as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitError {
    Empty { kind: Kind },
    NoNumber { text: String, kind: Kind },
    BadNumber { text: String, kind: Kind },
    Negative { text: String, kind: Kind },
    NoUnit { text: String, kind: Kind },
    UnknownUnit { unit: String, kind: Kind },
    NotWhole { text: String, kind: Kind },
    TooLarge { text: String, kind: Kind },
}

impl UnitError {
    /// The message with the name of the field the quantity was in, for a file's error:
    /// `unknown unit "Mbps" in upload; use one of: ...`.
    pub fn in_field(&self, field: &str) -> String {
        self.describe(Some(field))
    }

    fn describe(&self, field: Option<&str>) -> String {
        let within = field.map(|f| format!(" in {f}")).unwrap_or_default();
        match self {
            UnitError::Empty { kind } => {
                let what = field.map_or_else(|| format!("empty {}", kind.name()), |f| format!("{f} is empty"));
                format!("{what}; write a number and a unit, like {}", kind.example())
            }
            UnitError::NoNumber { text, kind } => {
                format!(
                    "{text:?}{within} does not start with a number; write a number and a unit, like {}",
                    kind.example()
                )
            }
            UnitError::BadNumber { text, kind } => format!(
                "{text:?}{within} is not a number: write digits with at most one decimal point between digits, like {}",
                kind.example()
            ),
            UnitError::Negative { text, kind } => {
                format!("{text:?}{within} is negative; a {} is 0 or more", kind.name())
            }
            UnitError::NoUnit { text, kind } => {
                format!("{text:?}{within} has no unit; use one of: {}", kind.accepted())
            }
            UnitError::UnknownUnit { unit, kind } => {
                format!("unknown unit {unit:?}{within}; use one of: {}{}", kind.accepted(), hint(unit, *kind))
            }
            UnitError::NotWhole { text, kind } => format!("{text:?}{within} is not a whole number of {}", kind.base()),
            UnitError::TooLarge { text, kind } => {
                format!("{text:?}{within} is too large: the most is {} {}", u64::MAX, kind.base())
            }
        }
    }
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(None))
    }
}

impl std::error::Error for UnitError {}

/// A guess at what an unknown unit meant: a usual misspelling, or a unit of another kind.
fn hint(unit: &str, kind: Kind) -> String {
    if let Some((_, meant)) = LIKELY_MEANT.iter().find(|(wrong, _)| *wrong == unit) {
        return format!(" (did you mean {meant}?)");
    }
    for other in [Kind::Size, Kind::Rate, Kind::Duration] {
        if other != kind && other.units().iter().any(|u| u.symbol == unit) {
            return format!(" ({unit} is a unit of {}, and this is a {})", other.name(), kind.name());
        }
    }
    String::new()
}

/// Reads `text` as a quantity of `kind`, in its base unit.
pub fn parse(text: &str, kind: Kind) -> Result<u64, UnitError> {
    let text = text.trim();
    let owned = || text.to_string();
    if text.is_empty() {
        return Err(UnitError::Empty { kind });
    }
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, rest) = text.split_at(number_len);
    if number.is_empty() {
        let negative = text.strip_prefix('-').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit() || c == '.'));
        return Err(if negative {
            UnitError::Negative { text: owned(), kind }
        } else {
            UnitError::NoNumber { text: owned(), kind }
        });
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let well_formed = !whole.is_empty() && !fraction.contains('.') && (!number.contains('.') || !fraction.is_empty());
    if !well_formed {
        return Err(UnitError::BadNumber { text: owned(), kind });
    }
    let symbol = rest.trim_start();
    if symbol.is_empty() {
        return Err(UnitError::NoUnit { text: owned(), kind });
    }
    let Some(unit) = kind.units().iter().find(|u| u.symbol == symbol) else {
        return Err(UnitError::UnknownUnit { unit: symbol.to_string(), kind });
    };
    match scale(whole, fraction, unit.factor) {
        Scaled::Exact(value) => Ok(value),
        Scaled::NotWhole => Err(UnitError::NotWhole { text: owned(), kind }),
        Scaled::TooLarge => Err(UnitError::TooLarge { text: owned(), kind }),
    }
}

enum Scaled {
    Exact(u64),
    NotWhole,
    TooLarge,
}

/// `whole.fraction * factor`, exactly, from the decimal digits (already checked to be digits).
///
/// With the fraction as an integer `f` of `k` digits, the value is `whole * factor +
/// f * factor / 10^k`. Rather than form `f * factor` (which can overflow u128 for 38 digits),
/// divide out `g = gcd(factor, 10^k)`: the second term is whole exactly when `10^k / g` divides
/// `f`, and is then `(f / (10^k / g)) * (factor / g)`, which is less than `factor`.
fn scale(whole: &str, fraction: &str, factor: u64) -> Scaled {
    let factor = u128::from(factor);
    // Trailing zeros change nothing ("1.50" is "1.5") and would only make 10^k larger.
    let fraction = fraction.trim_end_matches('0');
    let Some(whole) = digits_value(whole) else {
        return Scaled::TooLarge;
    };
    let Some(whole_part) = whole.checked_mul(factor) else {
        return Scaled::TooLarge;
    };
    let fraction_part = if fraction.is_empty() {
        0
    } else {
        // With trailing zeros gone, f is not a multiple of 10, so 10^k divides f * factor only
        // if factor alone holds 2^k or 5^k; no unit's factor holds even 2^31 (GiB is 2^30),
        // so a fraction this long is never whole, and 10^39 would not fit in u128 anyway.
        if fraction.len() > 38 {
            return Scaled::NotWhole;
        }
        let (Some(f), Some(ten_k)) = (digits_value(fraction), 10u128.checked_pow(fraction.len() as u32)) else {
            return Scaled::NotWhole;
        };
        let g = gcd(factor, ten_k);
        let step = ten_k / g;
        if !f.is_multiple_of(step) {
            return Scaled::NotWhole;
        }
        (f / step) * (factor / g)
    };
    match whole_part.checked_add(fraction_part).map(u64::try_from) {
        Some(Ok(value)) => Scaled::Exact(value),
        _ => Scaled::TooLarge,
    }
}

/// The value of a string of ASCII digits, or None past u128.
fn digits_value(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, d| acc.checked_mul(10)?.checked_add(u128::from(d - b'0')))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Prints `value` (in base units) in the unit with the largest factor that divides it exactly,
/// so the number is whole and as short as an exact form can be: 104857600 bytes is "100 MiB";
/// 1500 bytes stays "1500 B" (1.5 kB would need a decimal point). It reads back to the same value.
fn write_human(f: &mut fmt::Formatter<'_>, value: u64, kind: Kind) -> fmt::Result {
    if value == 0 {
        return write!(f, "0 {}", kind.zero_symbol());
    }
    let unit = kind
        .display_units()
        .filter(|u| value.is_multiple_of(u.factor))
        .max_by_key(|u| u.factor)
        .expect("every kind has a unit of factor 1, which divides everything");
    write!(f, "{} {}", value / unit.factor, unit.symbol)
}

macro_rules! quantity {
    ($type:ident, $kind:expr) => {
        impl $type {
            /// The value in the base unit.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl FromStr for $type {
            type Err = UnitError;
            fn from_str(text: &str) -> Result<Self, UnitError> {
                parse(text, $kind).map($type)
            }
        }

        /// A human form, exact: the largest unit that divides the value ("100 MiB").
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_human(f, self.0, $kind)
            }
        }

        /// The bare integer in the base unit, so that JSON and CSV readers need no unit parser;
        /// the field's name says the unit.
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u64(self.0)
            }
        }
    };
}

quantity!(Bytes, Kind::Size);
quantity!(BitsPerSecond, Kind::Rate);
quantity!(Nanoseconds, Kind::Duration);

/// A share of something, in millionths: written as a percentage below 100% ("5%", "2.5 %",
/// "0%"), read exactly like the quantities above (no float: "2.5%" is 25000, and a share finer
/// than a millionth is refused, not rounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartsPerMillion(pub u32);

/// Parts per million in one percent.
const PPM_PER_PERCENT: u64 = 10_000;
const MILLION: u64 = 1_000_000;

/// Why a percentage could not be read. `text` is the percentage as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PercentError {
    Empty,
    /// No `%` at the end: "5" could mean 5% or a share of 5, so it is not guessed.
    NoPercent {
        text: String,
    },
    BadNumber {
        text: String,
    },
    Negative {
        text: String,
    },
    /// Finer than a millionth.
    NotWhole {
        text: String,
    },
    /// 100% or more.
    TooLarge {
        text: String,
    },
}

impl PercentError {
    /// The message with the name of the field or option the percentage was in:
    /// `"5" in overhead has no %; write a percentage, like "5%"`.
    pub fn in_field(&self, field: &str) -> String {
        self.describe(Some(field))
    }

    fn describe(&self, field: Option<&str>) -> String {
        let within = field.map(|f| format!(" in {f}")).unwrap_or_default();
        const EXAMPLE: &str = "\"5%\"";
        match self {
            PercentError::Empty => {
                let what = field.map_or_else(|| "empty percentage".to_string(), |f| format!("{f} is empty"));
                format!("{what}; write a percentage, like {EXAMPLE}")
            }
            PercentError::NoPercent { text } => {
                format!("{text:?}{within} has no %; write a percentage, like {EXAMPLE}")
            }
            PercentError::BadNumber { text } => format!(
                "{text:?}{within} is not a percentage: write digits with at most one decimal point between digits, \
                 then %, like \"2.5%\""
            ),
            PercentError::Negative { text } => format!("{text:?}{within} is negative; a share is 0% or more"),
            PercentError::NotWhole { text } => {
                format!("{text:?}{within} is finer than a millionth (0.0001%), the finest share there is")
            }
            PercentError::TooLarge { text } => format!("{text:?}{within} is 100% or more; a share must be below 100%"),
        }
    }
}

impl fmt::Display for PercentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(None))
    }
}

impl std::error::Error for PercentError {}

/// Reads `text`, a percentage below 100% ("5%", "5 %", "2.5%"), in parts per million.
pub fn parse_percent(text: &str) -> Result<u32, PercentError> {
    let text = text.trim();
    let owned = || text.to_string();
    if text.is_empty() {
        return Err(PercentError::Empty);
    }
    let Some(number) = text.strip_suffix('%') else {
        return Err(if text.starts_with('-') {
            PercentError::Negative { text: owned() }
        } else {
            PercentError::NoPercent { text: owned() }
        });
    };
    let number = number.trim_end();
    if number.starts_with('-') && number.len() > 1 {
        return Err(PercentError::Negative { text: owned() });
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let well_formed =
        !whole.is_empty() && digits(whole) && digits(fraction) && (!number.contains('.') || !fraction.is_empty());
    if !well_formed {
        return Err(PercentError::BadNumber { text: owned() });
    }
    match scale(whole, fraction, PPM_PER_PERCENT) {
        Scaled::Exact(ppm) if ppm < MILLION => Ok(ppm as u32),
        Scaled::Exact(_) | Scaled::TooLarge => Err(PercentError::TooLarge { text: owned() }),
        Scaled::NotWhole => Err(PercentError::NotWhole { text: owned() }),
    }
}

impl PartsPerMillion {
    /// The value in millionths.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for PartsPerMillion {
    type Err = PercentError;
    fn from_str(text: &str) -> Result<Self, PercentError> {
        parse_percent(text).map(PartsPerMillion)
    }
}

/// As a percentage, exact and as short as it can be: 50000 is "5%", 25000 "2.5%", 1 "0.0001%".
/// It reads back to the same value.
impl fmt::Display for PartsPerMillion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ppm = u64::from(self.0);
        let (whole, fraction) = (ppm / PPM_PER_PERCENT, ppm % PPM_PER_PERCENT);
        if fraction == 0 {
            return write!(f, "{whole}%");
        }
        let fraction = format!("{fraction:04}");
        write!(f, "{whole}.{}%", fraction.trim_end_matches('0'))
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    fn size(text: &str) -> Result<u64, UnitError> {
        parse(text, Kind::Size)
    }
    fn rate(text: &str) -> Result<u64, UnitError> {
        parse(text, Kind::Rate)
    }
    fn duration(text: &str) -> Result<u64, UnitError> {
        parse(text, Kind::Duration)
    }

    #[test]
    fn every_size_unit_converts_to_bytes() {
        assert_eq!(size("3 B"), Ok(3));
        assert_eq!(size("3 kB"), Ok(3_000));
        assert_eq!(size("3 KiB"), Ok(3 * 1024));
        assert_eq!(size("3 MB"), Ok(3_000_000));
        assert_eq!(size("3 MiB"), Ok(3 * 1024 * 1024));
        assert_eq!(size("3 GB"), Ok(3_000_000_000));
        assert_eq!(size("3 GiB"), Ok(3 * 1024 * 1024 * 1024));
        assert_eq!(SIZE_UNITS.len(), 7, "a new unit needs a line above");
    }

    #[test]
    fn every_rate_unit_converts_to_bits_per_second() {
        assert_eq!(rate("3 bit/s"), Ok(3));
        assert_eq!(rate("3 kbit/s"), Ok(3_000));
        assert_eq!(rate("3 Mbit/s"), Ok(3_000_000));
        assert_eq!(rate("3 Gbit/s"), Ok(3_000_000_000));
        assert_eq!(rate("3 B/s"), Ok(24));
        assert_eq!(rate("3 kB/s"), Ok(24_000));
        assert_eq!(rate("3 KiB/s"), Ok(3 * 8 * 1024));
        assert_eq!(rate("3 MB/s"), Ok(24_000_000));
        assert_eq!(rate("3 MiB/s"), Ok(3 * 8 * 1024 * 1024));
        assert_eq!(RATE_UNITS.len(), 9, "a new unit needs a line above");
    }

    #[test]
    fn every_duration_unit_converts_to_nanoseconds() {
        assert_eq!(duration("3 ns"), Ok(3));
        assert_eq!(duration("3 us"), Ok(3_000));
        assert_eq!(duration("3 µs"), Ok(3_000));
        assert_eq!(duration("3 ms"), Ok(3_000_000));
        assert_eq!(duration("3 s"), Ok(3_000_000_000));
        assert_eq!(duration("3 min"), Ok(180_000_000_000));
        assert_eq!(duration("3 h"), Ok(10_800_000_000_000));
        assert_eq!(DURATION_UNITS.len(), 7, "a new unit needs a line above");
    }

    #[test]
    fn space_is_optional_and_surrounding_space_ignored() {
        assert_eq!(rate("10Mbit/s"), Ok(10_000_000));
        assert_eq!(rate("  10 \t Mbit/s  "), Ok(10_000_000));
        assert_eq!(size("256KiB"), Ok(262_144));
    }

    #[test]
    fn decimals_convert_exactly_when_whole() {
        assert_eq!(rate("1.5 Mbit/s"), Ok(1_500_000));
        assert_eq!(duration("0.25 s"), Ok(250_000_000));
        assert_eq!(size("1.5 kB"), Ok(1_500));
        assert_eq!(size("0.5 KiB"), Ok(512));
        // 2^-20 MiB is one byte: 20 decimal places, exact.
        assert_eq!(size("0.00000095367431640625 MiB"), Ok(1));
        assert_eq!(size("1.50 kB"), Ok(1_500), "trailing zeros change nothing");
        assert_eq!(size("7.000000000000000000000000000000000000000000 B"), Ok(7));
        assert_eq!(duration("0.001 us"), Ok(1));
        assert_eq!(duration("1.5 h"), Ok(5_400_000_000_000));
        assert_eq!(rate("0.125 B/s"), Ok(1));
    }

    #[test]
    fn decimals_are_refused_when_not_whole() {
        for (text, kind) in [
            ("1.5 B", Kind::Size),
            ("0.1 KiB", Kind::Size),
            ("0.0001 kbit/s", Kind::Rate),
            ("0.0625 B/s", Kind::Rate),
            ("0.5 ns", Kind::Duration),
            ("0.0000000000000000000000000000000000000001 GiB", Kind::Size),
            ("1.00000000000000000000000000000000000000000000001 h", Kind::Duration),
        ] {
            assert_eq!(parse(text, kind), Err(UnitError::NotWhole { text: text.into(), kind }), "{text}");
        }
        assert_eq!(size("1.5 B").unwrap_err().to_string(), "\"1.5 B\" is not a whole number of bytes");
    }

    #[test]
    fn zero_is_a_quantity() {
        assert_eq!(rate("0 bit/s"), Ok(0));
        assert_eq!(size("0.0 MiB"), Ok(0));
        assert_eq!(duration("0 ms"), Ok(0));
    }

    #[test]
    fn an_unknown_unit_lists_the_accepted_ones() {
        let error = rate("10 Mbps").unwrap_err();
        assert_eq!(error, UnitError::UnknownUnit { unit: "Mbps".into(), kind: Kind::Rate });
        let message = error.in_field("upload");
        assert!(
            message.starts_with(
                "unknown unit \"Mbps\" in upload; use one of: bit/s, kbit/s, Mbit/s, Gbit/s, B/s, kB/s, KiB/s, MB/s, MiB/s"
            ),
            "{message}"
        );
        assert!(message.ends_with("(did you mean Mbit/s?)"), "{message}");
        let message = size("3 kb").unwrap_err().to_string();
        assert_eq!(message, "unknown unit \"kb\"; use one of: B, kB, KiB, MB, MiB, GB, GiB");
        let message = duration("3 sec").unwrap_err().to_string();
        assert!(message.contains("ns, us, µs, ms, s, min, h (did you mean s?)"), "{message}");
    }

    #[test]
    fn units_are_case_sensitive_and_of_one_kind() {
        assert!(matches!(size("1 mb"), Err(UnitError::UnknownUnit { .. })));
        assert!(matches!(size("1 MIB"), Err(UnitError::UnknownUnit { .. })));
        let message = rate("1 MiB").unwrap_err().to_string();
        assert!(message.ends_with("(MiB is a unit of size, and this is a rate)"), "{message}");
        let message = size("1 s").unwrap_err().to_string();
        assert!(message.ends_with("(s is a unit of duration, and this is a size)"), "{message}");
    }

    #[test]
    fn malformed_numbers_are_refused() {
        assert_eq!(size(""), Err(UnitError::Empty { kind: Kind::Size }));
        assert_eq!(size("   "), Err(UnitError::Empty { kind: Kind::Size }));
        assert_eq!(size("MiB"), Err(UnitError::NoNumber { text: "MiB".into(), kind: Kind::Size }));
        assert_eq!(size("+1 MiB"), Err(UnitError::NoNumber { text: "+1 MiB".into(), kind: Kind::Size }));
        for text in ["1.2.3 B", "1. B", ".5 kB", "1..2 kB"] {
            assert_eq!(size(text), Err(UnitError::BadNumber { text: text.into(), kind: Kind::Size }), "{text}");
        }
        assert_eq!(size("100"), Err(UnitError::NoUnit { text: "100".into(), kind: Kind::Size }));
        assert!(size("100").unwrap_err().to_string().contains("has no unit; use one of: B, kB"));
        assert_eq!(size("1e6 B"), Err(UnitError::UnknownUnit { unit: "e6 B".into(), kind: Kind::Size }));
    }

    #[test]
    fn negatives_are_refused() {
        assert_eq!(duration("-1 s"), Err(UnitError::Negative { text: "-1 s".into(), kind: Kind::Duration }));
        assert_eq!(duration("-0.5 s"), Err(UnitError::Negative { text: "-0.5 s".into(), kind: Kind::Duration }));
        assert_eq!(duration("- s"), Err(UnitError::NoNumber { text: "- s".into(), kind: Kind::Duration }));
        assert_eq!(
            rate("-3 Mbit/s").unwrap_err().in_field("upload"),
            "\"-3 Mbit/s\" in upload is negative; a rate is 0 or more"
        );
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        assert_eq!(size("18446744073709551615 B"), Ok(u64::MAX));
        let too_large = |text: &str| UnitError::TooLarge { text: text.into(), kind: Kind::Size };
        assert_eq!(size("18446744073709551616 B"), Err(too_large("18446744073709551616 B")));
        // 2^34 GiB is 2^64 bytes.
        assert_eq!(size("17179869184 GiB"), Err(too_large("17179869184 GiB")));
        assert_eq!(size("17179869183.5 GiB"), Ok(u64::MAX - (1 << 29) + 1));
        // Past u128 while reading the digits.
        let huge = format!("{} B", "9".repeat(60));
        assert_eq!(size(&huge), Err(too_large(&huge)));
        // u64 nanoseconds end a little after 5124095 hours (584 years).
        assert_eq!(duration("5124095 h"), Ok(5_124_095 * 3_600_000_000_000));
        assert!(matches!(duration("5124096 h"), Err(UnitError::TooLarge { .. })));
        assert!(
            size("18446744073709551616 B").unwrap_err().to_string().contains("the most is 18446744073709551615 bytes")
        );
    }

    #[test]
    fn from_str_gives_the_typed_quantity() {
        assert_eq!("100 MiB".parse::<Bytes>(), Ok(Bytes(104_857_600)));
        assert_eq!("10 Mbit/s".parse::<BitsPerSecond>(), Ok(BitsPerSecond(10_000_000)));
        assert_eq!("50 ms".parse::<Nanoseconds>(), Ok(Nanoseconds(50_000_000)));
        assert!("50 ms".parse::<Bytes>().is_err());
        assert_eq!(Bytes(7).get(), 7);
    }

    #[test]
    fn display_is_human_and_exact() {
        assert_eq!(Bytes(104_857_600).to_string(), "100 MiB");
        assert_eq!(Bytes(262_144).to_string(), "256 KiB");
        assert_eq!(Bytes(3_000_000).to_string(), "3 MB");
        assert_eq!(Bytes(1_500).to_string(), "1500 B");
        assert_eq!(Bytes(1_024_000).to_string(), "1000 KiB");
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(BitsPerSecond(10_000_000).to_string(), "10 Mbit/s");
        assert_eq!(BitsPerSecond(80_000_000).to_string(), "80 Mbit/s", "rates print in bits");
        assert_eq!(BitsPerSecond(8_192).to_string(), "8192 bit/s");
        assert_eq!(BitsPerSecond(0).to_string(), "0 bit/s");
        assert_eq!(Nanoseconds(50_000_000).to_string(), "50 ms");
        assert_eq!(Nanoseconds(90_000_000_000).to_string(), "90 s");
        assert_eq!(Nanoseconds(7_200_000_000_000).to_string(), "2 h");
        assert_eq!(Nanoseconds(1_500).to_string(), "1500 ns");
        assert_eq!(Nanoseconds(2_000).to_string(), "2 us");
        assert_eq!(Nanoseconds(0).to_string(), "0 s");
    }

    #[test]
    fn display_reads_back_to_the_same_value() {
        for value in [1, 999, 1_000, 1_024, 1_536_000, 104_857_600, 3 << 30, u64::MAX] {
            assert_eq!(Bytes(value).to_string().parse::<Bytes>(), Ok(Bytes(value)));
            assert_eq!(BitsPerSecond(value).to_string().parse::<BitsPerSecond>(), Ok(BitsPerSecond(value)));
            assert_eq!(Nanoseconds(value).to_string().parse::<Nanoseconds>(), Ok(Nanoseconds(value)));
        }
    }

    #[test]
    fn serializes_as_the_base_unit_integer() {
        assert_eq!(toml::Value::try_from(Bytes(104_857_600)), Ok(toml::Value::Integer(104_857_600)));
        assert_eq!(toml::Value::try_from(BitsPerSecond(10_000_000)), Ok(toml::Value::Integer(10_000_000)));
        assert_eq!(toml::Value::try_from(Nanoseconds(50_000_000)), Ok(toml::Value::Integer(50_000_000)));
    }

    #[test]
    fn percentages_read_exactly_into_parts_per_million() {
        assert_eq!(parse_percent("5%"), Ok(50_000));
        assert_eq!(parse_percent("5 %"), Ok(50_000));
        assert_eq!(parse_percent(" 5% "), Ok(50_000));
        assert_eq!(parse_percent("0%"), Ok(0));
        assert_eq!(parse_percent("2.5%"), Ok(25_000));
        assert_eq!(parse_percent("0.0001%"), Ok(1));
        assert_eq!(parse_percent("99.9999%"), Ok(999_999));
        assert_eq!(parse_percent("2.50000000000000000000000000000000000000000000%"), Ok(25_000));
        assert_eq!("2.5%".parse::<PartsPerMillion>(), Ok(PartsPerMillion(25_000)));
    }

    #[test]
    fn bad_percentages_are_refused() {
        let text = |t: &str| t.to_string();
        assert_eq!(parse_percent(""), Err(PercentError::Empty));
        assert_eq!(parse_percent("5"), Err(PercentError::NoPercent { text: text("5") }));
        assert_eq!(parse_percent("0.05"), Err(PercentError::NoPercent { text: text("0.05") }));
        assert_eq!(parse_percent("-5"), Err(PercentError::Negative { text: text("-5") }));
        assert_eq!(parse_percent("-5%"), Err(PercentError::Negative { text: text("-5%") }));
        assert_eq!(parse_percent("-0.5 %"), Err(PercentError::Negative { text: text("-0.5 %") }));
        for bad in ["%", "-%", "+5%", "5.%", ".5%", "1.2.3%", "5%%", "five%", "5 x%", "1e2%"] {
            assert_eq!(parse_percent(bad), Err(PercentError::BadNumber { text: text(bad) }), "{bad}");
        }
        assert_eq!(parse_percent("0.00001%"), Err(PercentError::NotWhole { text: text("0.00001%") }));
        for large in ["100%", "100.0%", "250%", "99999999999999999999999999999999999999999999%"] {
            assert_eq!(parse_percent(large), Err(PercentError::TooLarge { text: text(large) }), "{large}");
        }
        assert_eq!(
            parse_percent("5").unwrap_err().in_field("overhead"),
            "\"5\" in overhead has no %; write a percentage, like \"5%\""
        );
        assert_eq!(
            parse_percent("100%").unwrap_err().in_field("--overhead"),
            "\"100%\" in --overhead is 100% or more; a share must be below 100%"
        );
        assert_eq!(parse_percent("-1%").unwrap_err().to_string(), "\"-1%\" is negative; a share is 0% or more");
    }

    #[test]
    fn parts_per_million_print_as_exact_percentages() {
        assert_eq!(PartsPerMillion(50_000).to_string(), "5%");
        assert_eq!(PartsPerMillion(25_000).to_string(), "2.5%");
        assert_eq!(PartsPerMillion(0).to_string(), "0%");
        assert_eq!(PartsPerMillion(1).to_string(), "0.0001%");
        assert_eq!(PartsPerMillion(999_999).to_string(), "99.9999%");
        for ppm in [0, 1, 10, 1_234, 50_000, 123_456, 999_999] {
            assert_eq!(PartsPerMillion(ppm).to_string().parse::<PartsPerMillion>(), Ok(PartsPerMillion(ppm)));
        }
    }
}
