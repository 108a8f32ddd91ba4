fn main() {
    bundle_link::link_bundled_gdal();
}
