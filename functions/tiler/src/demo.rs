//! The bundled demo: three small overlapping RGB COGs generated with GDAL on first use (no
//! network, nothing binary in the repository) and a MosaicJSON built from them.

use std::path::{Path, PathBuf};

use gdal::DriverManager;
use gdal::raster::Buffer;
use mosaic::create::CreateOptions;
use mosaic::dataset::{dataset_info, mosaic_zooms};
use mosaic::{MosaicJson, TileMatrixSet};

/// Where the demo lives: `MOSAIC_DEMO_DIR`, else a folder in the system temp directory.
pub fn demo_dir() -> PathBuf {
    std::env::var_os("MOSAIC_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mosaic-demo-v1"))
}

/// The demo mosaic's path, generating the COGs and the document when missing.
pub fn ensure_demo(dir: &Path) -> mosaic::Result<PathBuf> {
    let mosaic_path = dir.join("mosaic.json");
    if mosaic_path.exists() {
        return Ok(mosaic_path);
    }
    std::fs::create_dir_all(dir).map_err(|e| mosaic::Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let gerr = |e: gdal::errors::GdalError| mosaic::Error::InvalidInput(format!("demo COG: {e}"));
    // Three 512×512 scenes, 10 m pixels in Web Mercator, overlapping by a third.
    let scenes = [
        ("scene_a.tif", 1_400_000.0, 5_650_000.0, [200u8, 80, 60]),
        ("scene_b.tif", 1_402_000.0, 5_648_000.0, [60, 160, 90]),
        ("scene_c.tif", 1_404_000.0, 5_651_000.0, [70, 90, 200]),
    ];
    let size = 512usize;
    let mut paths = Vec::new();
    for (name, x0, y0, rgb) in scenes {
        let mem = DriverManager::get_driver_by_name("MEM").map_err(gerr)?;
        let mut ds = mem
            .create_with_band_type::<u8, _>("", size, size, 3)
            .map_err(gerr)?;
        ds.set_geo_transform(&[x0, 10.0, 0.0, y0, 0.0, -10.0])
            .map_err(gerr)?;
        let srs = gdal::spatial_ref::SpatialRef::from_epsg(3857).map_err(gerr)?;
        ds.set_spatial_ref(&srs).map_err(gerr)?;
        for (b, base) in rgb.iter().enumerate() {
            // Diagonal stripes inside a rotated-square footprint; 0 (nodata) outside.
            let data: Vec<u8> = (0..size * size)
                .map(|i| {
                    let (r, c) = ((i / size) as i64, (i % size) as i64);
                    let inside = (r - 256).abs() + (c - 256).abs() < 300;
                    if !inside {
                        0
                    } else if ((r + c) / 32) % 2 == 0 {
                        *base
                    } else {
                        base.saturating_add(40).max(1)
                    }
                })
                .collect();
            let mut band = ds.rasterband(b + 1).map_err(gerr)?;
            band.set_no_data_value(Some(0.0)).map_err(gerr)?;
            band.write((0, 0), (size, size), &mut Buffer::new((size, size), data))
                .map_err(gerr)?;
        }
        let cog = DriverManager::get_driver_by_name("COG").map_err(gerr)?;
        let mut opts = gdal::cpl::CslStringList::new();
        opts.set_name_value("COMPRESS", "DEFLATE").map_err(gerr)?;
        opts.set_name_value("BLOCKSIZE", "256").map_err(gerr)?;
        let path = dir.join(name);
        ds.create_copy(&cog, &path, &opts).map_err(gerr)?;
        paths.push(path.to_string_lossy().into_owned());
    }
    let tms = TileMatrixSet::web_mercator();
    let infos = paths
        .iter()
        .map(|p| dataset_info(p, &tms))
        .collect::<mosaic::Result<Vec<_>>>()?;
    let (minzoom, maxzoom) = mosaic_zooms(&infos, None, None, &mut Vec::new())?;
    let mut opts = CreateOptions::new(minzoom, maxzoom);
    opts.name = Some("mosaic demo".into());
    opts.attribution = Some("generated test pattern".into());
    let fps: Vec<_> = infos.iter().map(|i| i.footprint()).collect();
    let doc = MosaicJson::from_footprints(&fps, &opts)?;
    let tmp = dir.join("mosaic.json.tmp");
    std::fs::write(&tmp, doc.to_json_vec()).map_err(|e| mosaic::Error::Io {
        path: tmp.clone(),
        source: e,
    })?;
    std::fs::rename(&tmp, &mosaic_path).map_err(|e| mosaic::Error::Io {
        path: mosaic_path.clone(),
        source: e,
    })?;
    Ok(mosaic_path)
}
