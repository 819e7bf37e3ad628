"""A believable inventory for the demo and for tests that want variety."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import FilamanSimulator


def seed_demo(sim: FilamanSimulator) -> dict[str, int]:
    """Three makers, a dozen spools of many materials; returns name -> id of notable rows.

    Includes RFID-tagged Bambu spools, one archived spool, one empty spool, one spool
    without `initial_total_weight_g` and one multi-colour filament.
    """
    bambu = sim.add_manufacturer("Bambu Lab", url="https://bambulab.com")
    polymaker = sim.add_manufacturer("Polymaker", url="https://polymaker.com")
    esun = sim.add_manufacturer("eSUN", url="https://esun3d.com", empty_spool_weight_g=224.0)
    shelf = sim.add_location("Shelf A", identifier="LOC-A")

    def filament(
        maker: int,
        material: str,
        sub: str | None,
        *,
        hexes: str | list[str],
        name: str,
        price: float,
    ) -> int:
        return sim.add_filament(
            maker,
            material,
            sub,
            color_hex=hexes,
            manufacturer_color_name=name,
            price=price,
        )

    ids: dict[str, int] = {"manufacturer_bambu": bambu, "location_shelf": shelf}
    ids["filament_pla_basic_green"] = filament(
        bambu, "PLA", "Basic", hexes="#00AE42", name="Bambu Green", price=19.99
    )
    ids["filament_pla_basic_white"] = filament(
        bambu, "PLA", "Basic", hexes="#FFFFFF", name="Jade White", price=19.99
    )
    ids["filament_pla_matte_black"] = filament(
        bambu, "PLA", "Matte", hexes="#000000", name="Charcoal", price=21.99
    )
    ids["filament_pla_silk_gold"] = filament(
        bambu, "PLA", "Silk+", hexes=["#E4BD68", "#D1D3D5"], name="Gold-Silver", price=24.99
    )
    ids["filament_petg_hf_blue"] = filament(
        bambu, "PETG", "HF", hexes="#0A2989", name="Blue", price=19.99
    )
    ids["filament_abs_red"] = filament(bambu, "ABS", None, hexes="#C12E1F", name="Red", price=22.99)
    ids["filament_tpu_yellow"] = filament(
        bambu, "TPU", "95A HF", hexes="#F4EE2A", name="Yellow", price=39.99
    )
    ids["filament_asa_gray"] = filament(
        polymaker, "ASA", None, hexes="#8E9089", name="Gray", price=27.99
    )
    ids["filament_pla_cf_black"] = filament(
        bambu, "PLA-CF", None, hexes="#000000", name="Black", price=34.99
    )
    ids["filament_petg_translucent"] = filament(
        bambu, "PETG", "Translucent", hexes="#0A6CD6", name="Translucent Blue", price=19.99
    )
    ids["filament_pla_orange"] = filament(
        esun, "PLA", "+", hexes="#FF6A13", name="Orange", price=16.99
    )

    def spool(key: str, filament_key: str, **kwargs: Any) -> None:
        ids[key] = sim.add_spool(ids[filament_key], **kwargs)

    spool("spool_pla_green_rfid", "filament_pla_basic_green", rfid_uid="04:F5:02:3A:11:22:33",
          purchase_price=19.99, lot_number="LOT-42", location_id=shelf)  # fmt: skip
    spool("spool_pla_white_rfid", "filament_pla_basic_white", rfid_uid="04:A1:7C:9B:44:55:66",
          purchase_price=19.99, status="opened", remaining_weight_g=640.0)  # fmt: skip
    spool("spool_pla_matte_black", "filament_pla_matte_black", status="opened",
          remaining_weight_g=212.5)  # fmt: skip
    spool("spool_pla_silk", "filament_pla_silk_gold", rfid_uid="04:3B:91:0E:77:88:99")
    spool("spool_petg_hf", "filament_petg_hf_blue", status="active", remaining_weight_g=815.0)
    spool("spool_abs_red", "filament_abs_red", purchase_price=22.99)
    # Loaded in AMS B4, but not assigned there: the demo's first print catches that.
    spool("spool_petg_translucent", "filament_petg_translucent", status="opened",
          remaining_weight_g=730.0, location_id=shelf)  # fmt: skip
    spool("spool_tpu_yellow", "filament_tpu_yellow", status="opened", remaining_weight_g=95.0)
    spool("spool_asa_gray", "filament_asa_gray", empty_spool_weight_g=190.0,
          initial_total_weight_g=1190.0)  # fmt: skip
    spool("spool_pla_cf", "filament_pla_cf_black", status="opened", remaining_weight_g=430.0)
    # Bought as "about half a spool": net weight only, no gross (examples/spool_create2.json).
    spool("spool_pla_orange_no_gross", "filament_pla_orange", initial_total_weight_g=None,
          empty_spool_weight_g=224.0, remaining_weight_g=500.0)  # fmt: skip
    spool("spool_pla_green_empty", "filament_pla_basic_green", status="empty",
          remaining_weight_g=0.0)  # fmt: skip
    spool("spool_pla_white_archived", "filament_pla_basic_white", status="opened",
          remaining_weight_g=12.0)  # fmt: skip
    sim.archive_spool(ids["spool_pla_white_archived"])
    return ids
