//! # mosaic
//!
//! MosaicJSON mosaics of Cloud-Optimized GeoTIFFs: the document model (0.0.1–0.0.3),
//! TileMatrixSets and quadkeys, mosaic creation from footprints or COGs, asset look-up
//! per tile/point/bbox, and the storage backends behind one URI dispatcher.
//!
//! ```
//! use mosaic::{create::{Footprint, CreateOptions}, MosaicJson, MemoryIndex};
//!
//! let footprints = vec![Footprint::from_bbox("a.tif", [0.0, 0.0, 1.0, 1.0])];
//! let doc = MosaicJson::from_footprints(&footprints, &CreateOptions::new(7, 12)).unwrap();
//! assert_eq!(doc.quadkey_zoom, Some(7));
//! let assets = MemoryIndex::new(doc).unwrap().assets_for_point(0.5, 0.5).unwrap();
//! assert_eq!(assets, vec!["a.tif".to_string()]);
//! ```
//!
//! The core (model, TMS, CRS, index, creation from footprints, file and memory backends,
//! cache, security gate) needs no native library and no cloud SDK; everything else is
//! behind a cargo feature — see the README's "Cargo features" table.
#![warn(missing_docs)]

pub mod backend;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
pub mod create;
pub mod crs;
#[cfg(feature = "gdal")]
pub mod dataset;
pub mod error;
pub mod gate;
#[cfg(feature = "gdal")]
pub mod gdal_log;
pub mod geojson;
pub mod index;
pub mod input;
pub mod limits;
#[cfg(feature = "logging")]
pub mod logging;
pub mod mosaicjson;
pub mod pyjson;
#[cfg(feature = "render")]
pub mod render;
pub mod settings;
#[cfg(feature = "stac")]
pub mod stac;
pub mod tms;

pub use error::{Error, Result, run_blocking};
pub use index::MemoryIndex;
pub use mosaicjson::MosaicJson;
pub use tms::{Tile, TileMatrixSet};
