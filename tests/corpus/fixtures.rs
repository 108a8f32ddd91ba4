//! Reference-derived fixtures shared by the CLI and router bad-input tables
//! (`tests/tests/bad_input.rs`, `functions/tiler/tests/bad_input.rs`, included with
//! `#[path]`): the first COG of the reference set, where its pixel data starts, a PNG.

use std::path::PathBuf;

use mosaic::{Tile, TileMatrixSet};

use super::refdata;

/// A reference COG (the first `.tif` of `cogs/`, whatever its name), its footprint, zooms
/// and a tile inside it.
pub struct Cog {
    pub path: PathBuf,
    pub bounds: [f64; 4],
    pub zooms: (u8, u8),
    pub tile: Tile,
}

pub fn cog() -> Cog {
    let dir = std::fs::canonicalize(refdata().join("cogs")).unwrap();
    let mut tifs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
        })
        .collect();
    tifs.sort();
    let path = tifs.into_iter().next().expect("a COG in the reference set");
    let tms = TileMatrixSet::web_mercator();
    let info = mosaic::dataset::dataset_info(&path.to_string_lossy(), &tms).unwrap();
    let b = info.bounds;
    Cog {
        tile: tms.tile((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, info.maxzoom),
        path,
        bounds: b,
        zooms: (info.minzoom, info.maxzoom),
    }
}

/// The offset where a TIFF's first tile or strip of pixel data starts (every IFD of the
/// chain, classic TIFF or BigTIFF): truncating there keeps the header and all IFDs intact
/// and cuts every byte of pixel data.
pub fn first_data_offset(b: &[u8]) -> u64 {
    let le = &b[0..2] == b"II";
    let u16_at = |o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let big = u16_at(2) == 43;
    let mut ifd = if big { u64_at(8) } else { u64::from(u32_at(4)) } as usize;
    let mut min = u64::MAX;
    while ifd != 0 && ifd < b.len() {
        let (n, entry_size, first) = if big {
            (u64_at(ifd) as usize, 20, ifd + 8)
        } else {
            (usize::from(u16_at(ifd)), 12, ifd + 2)
        };
        for i in 0..n {
            let e = first + i * entry_size;
            let tag = u16_at(e);
            if tag != 273 && tag != 324 {
                continue;
            }
            let typ = u16_at(e + 2);
            let (count, value_at) = if big {
                (u64_at(e + 4) as usize, e + 12)
            } else {
                (u32_at(e + 4) as usize, e + 8)
            };
            let size = match typ {
                3 => 2,
                16 => 8,
                _ => 4,
            };
            let inline = if big { 8 } else { 4 };
            let data = if size * count <= inline {
                value_at
            } else if big {
                u64_at(value_at) as usize
            } else {
                u32_at(value_at) as usize
            };
            for k in 0..count {
                let o = data + k * size;
                let off = match size {
                    2 => u64::from(u16_at(o)),
                    8 => u64_at(o),
                    _ => u64::from(u32_at(o)),
                };
                if off > 0 {
                    min = min.min(off);
                }
            }
        }
        let next = first + n * entry_size;
        ifd = if big {
            u64_at(next) as usize
        } else {
            u32_at(next) as usize
        };
    }
    assert!(min < b.len() as u64, "no pixel data found in the COG");
    min
}

pub fn png_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
