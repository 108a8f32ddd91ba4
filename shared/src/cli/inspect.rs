//! Reading stored mosaics: `info`, `to-geojson`, `assets` (tile, point or bbox look-ups)
//! and `list`.

use clap::Args;
use serde_json::{Value, json};

use super::output::{print, print_json, print_py_json};
use super::source::{StacReadArgs, open_source};
use crate::backend::{self, MosaicRead, MosaicUri, backend_name};
use crate::crs::Crs;
use crate::index::{Lookup, LookupOptions};
use crate::pyjson::py_float;
use crate::tms::{Tile, TileMatrixSet};
use crate::{Error, Result};

#[derive(Debug, Args)]
pub(super) struct InfoArgs {
    /// Mosaic URI.
    input: String,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Reading TileMatrixSet (reported as `TileMatrixSet`).
    #[arg(long)]
    tms: Option<String>,
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct ToGeojsonArgs {
    /// Mosaic URI.
    input: String,
    /// One FeatureCollection instead of newline-delimited Features.
    #[arg(long, overrides_with = "features")]
    collect: bool,
    /// Newline-delimited Features (default).
    #[arg(long)]
    features: bool,
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["tile", "point", "bbox"])))]
pub(super) struct AssetsArgs {
    /// Mosaic URI.
    input: String,
    /// Tile `Z X Y` of the reading TMS.
    #[arg(long, num_args = 3, value_names = ["Z", "X", "Y"])]
    tile: Option<Vec<u64>>,
    /// Point `LON LAT`.
    // Hyphen values, not `allow_negative_numbers`: clap's negative-number test takes an
    // exponent form such as `-7.1e-14` for a flag. `num_args` bounds what is taken.
    #[arg(long, num_args = 2, value_names = ["LON", "LAT"], allow_hyphen_values = true)]
    point: Option<Vec<f64>>,
    /// Bbox `W S E N`.
    #[arg(long, num_args = 4, value_names = ["W", "S", "E", "N"], allow_hyphen_values = true)]
    bbox: Option<Vec<f64>>,
    /// Reverse the asset order.
    #[arg(long)]
    reverse: bool,
    /// Reading TileMatrixSet for --tile (default: the mosaic's).
    #[arg(long)]
    tms: Option<String>,
    /// CRS of --point/--bbox coordinates (default: the TMS geographic CRS), e.g. EPSG:3857.
    #[arg(long)]
    coord_crs: Option<String>,
    #[command(flatten)]
    stac: StacReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// `dynamodb://[{region}]/{table}` or `sqlite:///{path}`.
    location: String,
}

/// `mosaic info`: the mosaic's description, as text or JSON.
pub(super) async fn info(a: InfoArgs) -> Result<()> {
    let read_tms = a.tms.as_deref().map(TileMatrixSet::from_arg).transpose()?;
    let read_tms_id = read_tms
        .as_ref()
        .map_or("WebMercatorQuad", |t| t.id())
        .to_string();
    let mosaic = open_source(&a.input, &a.stac, read_tms).await?;
    let report = info_report(&a.input, mosaic.as_ref(), &read_tms_id);
    if a.json {
        print_py_json(&report)
    } else {
        print(&info_text(&report))
    }
}

/// `mosaic to-geojson`: the quadkey tiles as Features, one per line or collected.
pub(super) async fn to_geojson(a: ToGeojsonArgs) -> Result<()> {
    let mosaic = open_source(&a.input, &a.stac, None).await?;
    let features = tile_features(mosaic.as_ref()).await?;
    if !a.collect {
        return features.iter().try_for_each(print_py_json);
    }
    // An empty mosaic prints nothing, not an empty collection.
    if features.is_empty() {
        return Ok(());
    }
    print_py_json(&json!({"type": "FeatureCollection", "features": features}))
}

/// `mosaic assets`: the assets of a tile, a point or a bbox as a JSON array.
pub(super) async fn assets(a: AssetsArgs) -> Result<()> {
    let tms = a.tms.as_deref().map(TileMatrixSet::from_arg).transpose()?;
    let mosaic = open_source(&a.input, &a.stac, tms.clone()).await?;
    let opts = LookupOptions {
        reverse: a.reverse,
        tms,
        coord_crs: a.coord_crs.as_deref().map(Crs::parse).transpose()?,
        ..Default::default()
    };
    let lookup = lookup_of(&a)?;
    let assets = mosaic.lookup(&lookup, &opts).await?;
    print_json(&assets)
}

/// The look-up `--tile`, `--point` or `--bbox` asks for.
fn lookup_of(a: &AssetsArgs) -> Result<Lookup> {
    if let Some(t) = &a.tile {
        let z = u8::try_from(t[0])
            .ok()
            .filter(|z| *z <= 30)
            .ok_or_else(|| Error::InvalidInput(format!("zoom {} is outside 0..=30", t[0])))?;
        Ok(Lookup::Tile(Tile::new(t[1], t[2], z)))
    } else if let Some(p) = &a.point {
        Ok(Lookup::Point {
            lon: p[0],
            lat: p[1],
        })
    } else if let Some(b) = &a.bbox {
        Ok(Lookup::Bbox([b[0], b[1], b[2], b[3]]))
    } else {
        Err(Error::InvalidInput("give --tile, --point or --bbox".into()))
    }
}

/// `mosaic list`: the mosaics of a table or SQLite file, one per line.
pub(super) async fn list(a: ListArgs) -> Result<()> {
    for name in backend::list_mosaics(&a.location).await? {
        print(&name)?;
    }
    Ok(())
}

/// The report of `mosaic info --json`, with cogeo-mosaic's keys and order.
pub fn info_report(input: &str, mosaic: &dyn MosaicRead, read_tms_id: &str) -> Value {
    let doc = mosaic.document();
    let counts: Vec<usize> = doc.tiles.values().map(Vec::len).collect();
    let tiles = if counts.is_empty() {
        json!({})
    } else {
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        json!({
            "Nb Tiles": counts.len(),
            "Min Files": counts.iter().min(),
            "Max Files": counts.iter().max(),
            "Mean Files": (mean * 100.0).round() / 100.0,
        })
    };
    let center = doc.center.unwrap_or_else(|| doc.default_center());
    let name = MosaicUri::parse(input)
        .map(|u| backend_name(&u))
        .unwrap_or("File");
    json!({
        "Path": input,
        "Backend": name,
        "File Size": mosaic.stored_size().unwrap_or(0),
        "Compressed": input.ends_with(".gz"),
        "Profile": {
            "MosaicJSON": doc.mosaicjson,
            "Version": doc.version,
            "Name": doc.name,
            "Description": doc.description,
            "Attribution": doc.attribution,
        },
        "GEO": {
            "TileMatrixSet": read_tms_id,
            "BoundingBox": doc.bounds,
            "Center": [center.lon, center.lat, center.zoom],
            "Min Zoom": doc.minzoom,
            "Max Zoom": doc.maxzoom,
            "QuadKey Zoom": doc.effective_quadkey_zoom(),
        },
        "TILES": tiles,
    })
}

/// A report value as Python's `str()` prints it (cogeo-mosaic's text output).
fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => py_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => format!(
            "({})",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The text form of `mosaic info`, as cogeo-mosaic prints it (without terminal styling).
pub fn info_text(report: &Value) -> String {
    let mut out = String::new();
    for key in ["Path", "Backend", "File Size", "Compressed"] {
        let label = if key == "Path" { "File" } else { key };
        out.push_str(&format!("{label}: {}\n", py_value(&report[key])));
    }
    for (section, title) in [("Profile", "Profile"), ("GEO", "Geo"), ("TILES", "Tiles")] {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        if let Some(map) = report[section].as_object() {
            for (k, v) in map {
                out.push_str(&format!("    {:<18}{}\n", format!("{k}:"), py_value(v)));
            }
        }
    }
    out.pop();
    out
}

/// One GeoJSON Feature per quadkey (in the mosaic's own TMS), as `to-geojson` prints them.
pub async fn tile_features(mosaic: &dyn MosaicRead) -> Result<Vec<Value>> {
    let doc = mosaic.document();
    let tms = doc.tms();
    let prefix = doc.asset_prefix.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (qk, assets) in mosaic.tiles().await? {
        let tile = tms.quadkey_to_tile(&qk)?;
        let [w, s, e, n] = tms.bounds(tile);
        let assets: Vec<String> = assets.into_iter().map(|a| format!("{prefix}{a}")).collect();
        out.push(json!({
            "type": "Feature",
            "id": format!("Tile(x={}, y={}, z={})", tile.x, tile.y, tile.z),
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]},
            "properties": {"nb_assets": assets.len(), "assets": assets},
        }));
    }
    Ok(out)
}
