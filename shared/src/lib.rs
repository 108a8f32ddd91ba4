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
#![warn(missing_docs)]

pub mod backend;
pub mod cache;
pub mod cli;
pub mod create;
pub mod crs;
pub mod dataset;
mod error;
pub mod gate;
pub mod gdal_log;
pub mod geojson;
pub mod index;
pub mod input;
pub mod limits;
pub mod logging;
pub mod mosaicjson;
pub mod pyjson;
pub mod render;
pub mod stac;
pub mod tms;

pub use error::{Error, Result, run_blocking};
pub use index::MemoryIndex;
pub use mosaicjson::MosaicJson;
pub use tms::{Tile, TileMatrixSet};
