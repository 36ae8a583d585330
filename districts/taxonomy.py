"""The default taxonomy of docs/domain.md §6: point types with their check items, and categories.

Plain data, re-applied by `manage.py load_taxonomy` and by the demo. Admins edit the rows
afterwards; codes are the stable keys. Migration `districts/0002_default_taxonomy` installs a
frozen copy of this module (`districts/migrations/_taxonomy_0002.py`): a change here reaches new
databases through a new data migration, never by changing what an old one installs.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ZONE_NAME = "通辽经济技术开发区"
DEFAULT_ZONE_NAME_EN = "Tongliao Economic and Technological Development Zone"

TERRITORIAL = "territorial"
PAIRED = "paired"
SECTOR = "sector"

GENERAL = "general"
MAJOR = "major"
URGENT = "urgent"

CITY_APPEARANCE = "city_appearance"  # 市容环境
ADVERTISING = "advertising"  # 宣传广告
CONSTRUCTION = "construction"  # 施工管理
STREET_ORDER = "street_order"  # 街面秩序
EMERGENCY = "emergency"  # 突发事件
EXTENDED = "extended"  # 扩展


@dataclass(frozen=True)
class PointTypeSeed:
    """One point type (点位类型) and its check items as (Chinese, English) pairs."""

    code: str
    name: str
    name_en: str
    check_items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CategorySeed:
    """One issue category (问题类别) with every attribute the app reads."""

    code: str
    name: str
    name_en: str
    big_class: str
    severity: str
    limit_value: int
    limit_unit: str
    owner_kind: str
    sector_hint: str
    closing_condition: str
    after_photo_required: bool
    on_spot_fix_allowed: bool
    quick_phrases: tuple[str, ...]


POINT_TYPES: tuple[PointTypeSeed, ...] = (
    PointTypeSeed(
        "ROAD_MAIN",
        "主次干道",
        "Main and secondary roads",
        (
            ("公益广告设置规范、无破损", "Public-service ads in place and intact"),
            ("路面干净,无卫生死角", "Road surface clean, no neglected corners"),
            ("无乱贴乱画小广告", "No posters, small ads or graffiti"),
            ("无占道经营、流动摊贩", "No street vending or roaming vendors"),
            ("机动车、非机动车停放有序", "Cars and bicycles parked in order"),
            ("盲道连续完好、无占用", "Tactile paving continuous, intact and unobstructed"),
            ("垃圾桶完好、无满溢", "Bins intact and not overflowing"),
        ),
    ),
    PointTypeSeed(
        "COMMERCIAL_ST",
        "商业大街",
        "Commercial streets",
        (
            ("门前三包责任牌上墙、责任落实", "Frontage-duty sign posted and duties kept"),
            ("无店外经营、占道经营", "No trading outside shops or on the pavement"),
            ("招牌牌匾设置规范、无破损", "Shop signs compliant and intact"),
            ("无乱贴乱画小广告", "No posters, small ads or graffiti"),
            ("公益广告设置规范", "Public-service ads in place"),
            ("非机动车停放有序", "Bicycles and e-bikes parked in order"),
        ),
    ),
    PointTypeSeed(
        "BACK_ALLEY",
        "背街小巷",
        "Back alleys",
        (
            ("路面平整,无坑洼积水", "Surface even, no potholes or standing water"),
            ("无暴露垃圾、卫生死角", "No exposed garbage or neglected corners"),
            ("无私搭乱建", "No illegal structures"),
            ("无乱堆乱放杂物", "No piled clutter"),
            ("无乱贴乱画小广告", "No posters, small ads or graffiti"),
            ("路灯完好、夜间照明正常", "Street lights working at night"),
        ),
    ),
    PointTypeSeed(
        "RESIDENTIAL",
        "居民小区",
        "Residential compounds",
        (
            ("楼道畅通整洁、无杂物", "Stairwells clear and clean"),
            ("无飞线充电、乱拉乱挂", "No flying charging cables or hanging lines"),
            ("垃圾分类桶站设置规范", "Sorted-waste bin stations in place"),
            ("消防通道畅通", "Fire lanes clear"),
            ("绿地无黄土裸露、无毁绿种菜", "Green space covered, no vegetable plots on lawns"),
            ("公益广告、文明宣传到位", "Public-service ads and civility posters in place"),
            ("车辆停放有序", "Vehicles parked in order"),
        ),
    ),
    PointTypeSeed(
        "OLD_COMPOUND",
        "老旧小区",
        "Old residential compounds",
        (
            ("楼道清洁、照明正常", "Stairwells clean and lit"),
            ("无飞线充电", "No flying charging cables"),
            ("无私搭乱建", "No illegal structures"),
            ("消防通道畅通", "Fire lanes clear"),
            ("垃圾分类桶站规范、无满溢", "Sorted-waste bins in place and not overflowing"),
            ("无陈年垃圾、杂物堆放", "No old rubbish or piled clutter"),
            ("院内道路、排水设施完好", "Paths and drains intact"),
        ),
    ),
    PointTypeSeed(
        "WET_MARKET",
        "农贸市场",
        "Wet markets",
        (
            ("划行归市、分区经营", "Trades grouped by zone (划行归市)"),
            ("“五公示”上墙", "The five public notices (五公示) posted"),
            ("设置公平秤", "A public verification scale (公平秤) available"),
            ("亮证亮照经营(营业执照、健康证)", "Licences and health certificates displayed"),
            ("一摊一桶,垃圾日产日清", "One bin per stall, waste cleared daily"),
            ("防鼠防蝇设施完好", "Rodent and fly proofing in place"),
            ("无活禽交易、宰杀", "No live poultry trading or slaughter"),
            ("无场外、占道经营", "No trading outside the stalls"),
        ),
    ),
    PointTypeSeed(
        "NIGHT_MARKET",
        "早夜市/便民市场",
        "Morning and night markets",
        (
            ("在规定区域、规定时段经营", "Trading only in the set area and hours"),
            ("摊位摆放整齐、划线经营", "Stalls lined up inside marked spaces"),
            ("一摊一桶,收市后场地清洁", "One bin per stall, site cleaned after closing"),
            ("亮证亮照经营", "Licences and health certificates displayed"),
            ("食品摊点有防尘防蝇设施", "Food stalls covered against dust and flies"),
            ("不占用盲道、消防通道", "Tactile paving and fire lanes kept free"),
        ),
    ),
    PointTypeSeed(
        "PARK_SQUARE",
        "公园广场",
        "Parks and squares",
        (
            ("公益广告设置规范", "Public-service ads in place"),
            ("地面、水体干净,无暴露垃圾", "Ground and water clean, no exposed garbage"),
            ("绿地无破坏、无黄土裸露", "Green space undamaged, no bare soil"),
            ("健身、休闲设施完好", "Fitness and rest equipment intact"),
            ("无流动摊贩", "No roaming vendors"),
            ("公厕干净无异味", "Toilets clean and odour-free"),
        ),
    ),
    PointTypeSeed(
        "SCHOOL_AREA",
        "学校周边",
        "School surroundings",
        (
            ("校门周边200米内无流动摊贩", "No roaming vendors within 200 m of the gate"),
            ("接送车辆停放有序", "Drop-off vehicles parked in order"),
            ("无“三无”食品售卖", "No unlabelled (三无) food on sale"),
            ("交通标志标线、护栏完好", "Traffic signs, markings and railings intact"),
            ("公益广告、文明宣传到位", "Public-service ads and civility posters in place"),
        ),
    ),
    PointTypeSeed(
        "HOSPITAL",
        "医院",
        "Hospitals",
        (
            ("院区及周边车辆停放有序", "Vehicles parked in order in and around the grounds"),
            ("医疗废物规范收集、不外露", "Medical waste collected properly, never exposed"),
            ("无乱贴小广告、无“医托”", "No posters and no touts"),
            ("公共卫生间干净", "Toilets clean"),
            ("控烟标识规范、无吸烟", "No-smoking signs in place, nobody smoking"),
            ("公益广告设置规范", "Public-service ads in place"),
        ),
    ),
    PointTypeSeed(
        "BUS_STOP",
        "公交站点",
        "Bus stops",
        (
            ("站台、站牌干净完好", "Shelter and stop sign clean and intact"),
            ("公益广告设置规范", "Public-service ads in place"),
            ("无乱贴小广告", "No posters or small ads"),
            ("候车秩序良好、港湾内无车辆违停", "Orderly queues, no cars parked in the bus bay"),
            ("周边无暴露垃圾", "No exposed garbage nearby"),
        ),
    ),
    PointTypeSeed(
        "TRANSPORT_HUB",
        "车站",
        "Stations",
        (
            ("站前广场干净、无暴露垃圾", "Station forecourt clean, no exposed garbage"),
            ("出租车、网约车有序停靠", "Taxis and ride-hailing cars wait in order"),
            ("无拉客、强行揽客", "No touting for passengers"),
            ("公益广告、文明宣传到位", "Public-service ads and civility posters in place"),
            ("公共厕所干净无异味", "Toilets clean and odour-free"),
            ("无障碍设施完好", "Accessibility facilities intact"),
        ),
    ),
    PointTypeSeed(
        "CONSTRUCTION",
        "建筑工地",
        "Construction sites",
        (
            ("主干道沿线围挡高度不低于2.5米", "Hoarding at least 2.5 m high along main roads"),
            ("围挡公益广告占比不低于30%", "Public-service ads on at least 30 % of the hoarding"),
            ("出入口设置车辆冲洗设施", "Wheel washing at the gate"),
            ("裸露土方全部覆盖", "Exposed soil fully covered"),
            ("无扬尘、无带泥上路", "No dust, no mud carried onto roads"),
            ("渣土车辆密闭运输", "Spoil trucks closed during transport"),
        ),
    ),
    PointTypeSeed(
        "SERVICE_HALL",
        "政务服务大厅/窗口单位",
        "Service halls and public counters",
        (
            ("公益广告、核心价值观宣传到位", "Public-service and core-values posters displayed"),
            ("窗口人员文明用语、挂牌上岗", "Counter staff polite and wearing name badges"),
            ("便民设施齐全(饮水、老花镜、轮椅)", "Water, reading glasses and a wheelchair on hand"),
            ("室内外环境整洁", "Clean inside and out"),
            ("控烟标识规范、无吸烟", "No-smoking signs in place, nobody smoking"),
            ("无障碍通道畅通", "Accessible entrance clear"),
        ),
    ),
    PointTypeSeed(
        "MALL_SHOP",
        "商场超市/餐饮店",
        "Shops, supermarkets and restaurants",
        (
            ("亮证亮照经营", "Licences and health certificates displayed"),
            ("后厨干净、生熟分开", "Kitchen clean, raw and cooked food kept apart"),
            ("防鼠防蝇设施完好", "Rodent and fly proofing in place"),
            ("无店外经营、占道经营", "No trading outside the shop"),
            ("控烟标识规范", "No-smoking signs in place"),
            ("门前三包落实", "Frontage duties (门前三包) kept"),
        ),
    ),
    PointTypeSeed(
        "PUBLIC_TOILET",
        "公共厕所/环卫站",
        "Public toilets and sanitation stations",
        (
            ("地面干净、无积水、无异味", "Floor clean and dry, no odour"),
            ("洗手设施、照明正常", "Hand-washing and lights working"),
            ("标识清晰、开放时间公示", "Clear signs, opening hours posted"),
            ("保洁记录上墙", "Cleaning log posted"),
            ("无障碍厕位完好", "Accessible cubicle intact"),
        ),
    ),
    PointTypeSeed(
        "COMMUNITY_SITE",
        "社区/新时代文明实践站",
        "Community offices and civilisation practice stations",
        (
            ("实践站标识、制度上墙", "Practice-station sign and rules posted"),
            ("公益广告、宣传栏内容及时更新", "Public-service ads and notice boards up to date"),
            ("志愿服务活动记录完整", "Volunteer activity records complete"),
            ("办公环境整洁", "Office clean and tidy"),
            ("红黑榜、道德模范宣传到位", "Honour roll and role models displayed"),
        ),
    ),
)


def _category(
    code: str,
    name: str,
    name_en: str,
    big_class: str,
    severity: str,
    limit: tuple[int, str],
    owner_kind: str,
    sector_hint: str,
    closing_condition: str,
    quick_phrases: tuple[str, ...],
    *,
    on_spot: bool = False,
    after_photo: bool = True,
) -> CategorySeed:
    return CategorySeed(
        code=code,
        name=name,
        name_en=name_en,
        big_class=big_class,
        severity=severity,
        limit_value=limit[0],
        limit_unit=limit[1],
        owner_kind=owner_kind,
        sector_hint=sector_hint,
        closing_condition=closing_condition,
        after_photo_required=after_photo,
        on_spot_fix_allowed=on_spot,
        quick_phrases=quick_phrases,
    )


# In the order of docs/domain.md §6b; sort_order follows this order.
CATEGORIES: tuple[CategorySeed, ...] = (
    _category(
        "GARBAGE_EXPOSED",
        "垃圾乱丢乱放/暴露垃圾",
        "Littering / exposed garbage",
        CITY_APPEARANCE,
        GENERAL,
        (2, "WH"),
        TERRITORIAL,
        "",
        "彻底清理",
        ("路边有暴露垃圾", "绿化带内有垃圾", "楼前垃圾未清运"),
        on_spot=True,
    ),
    _category(
        "BIN_OVERFLOW",
        "垃圾桶满溢/破损",
        "Overflowing or damaged bins",
        CITY_APPEARANCE,
        GENERAL,
        (2, "WH"),
        TERRITORIAL,
        "",
        "清运完毕,破损桶更换",
        ("垃圾桶满溢", "垃圾桶破损缺盖", "桶站周边脏乱"),
    ),
    _category(
        "ROAD_DIRTY",
        "道路不洁/卫生死角",
        "Dirty road / neglected corner",
        CITY_APPEARANCE,
        GENERAL,
        (2, "WH"),
        TERRITORIAL,
        "",
        "彻底清理",
        ("路面不洁", "墙角卫生死角", "路沿石积土"),
    ),
    _category(
        "DEBRIS_PILE",
        "杂物乱堆乱摆",
        "Clutter piled up",
        CITY_APPEARANCE,
        GENERAL,
        (4, "WH"),
        TERRITORIAL,
        "",
        "彻底清理",
        ("楼道堆放杂物", "楼前楼后堆放陈年破烂", "车库门前乱堆杂物"),
        on_spot=True,
    ),
    _category(
        "SMALL_AD",
        "小广告乱贴乱画",
        "Posted small ads and graffiti",
        ADVERTISING,
        GENERAL,
        (4, "WH"),
        TERRITORIAL,
        "",
        "清除干净、不留痕迹",
        ("墙面乱贴小广告", "电线杆上贴小广告", "车库门上喷涂小广告"),
        on_spot=True,
    ),
    _category(
        "AD_SIGN",
        "违规户外广告/招牌破损",
        "Illegal outdoor ads / damaged shop signs",
        ADVERTISING,
        MAJOR,
        (5, "WD"),
        SECTOR,
        "城管",
        "拆除或修复",
        ("招牌破损", "违规设置户外广告", "广告牌缺字不亮"),
    ),
    _category(
        "PSA_DAMAGED",
        "公益广告缺失/破损",
        "Public-service ads missing or damaged",
        ADVERTISING,
        MAJOR,
        (3, "WD"),
        PAIRED,
        "",
        "补设或更换",
        ("公益广告破损褪色", "未设置公益广告", "围挡公益广告占比不足"),
    ),
    _category(
        "EBIKE_PARKING",
        "非机动车乱停乱放",
        "Disorderly bicycle and e-bike parking",
        STREET_ORDER,
        GENERAL,
        (2, "WH"),
        TERRITORIAL,
        "",
        "规范停放",
        ("共享单车乱停放", "电动车占用盲道", "非机动车堵塞出入口"),
        on_spot=True,
    ),
    _category(
        "CAR_ILLEGAL_PARK",
        "交通违停",
        "Illegal car parking",
        STREET_ORDER,
        MAJOR,
        (1, "H"),
        SECTOR,
        "交警",
        "车辆驶离或依法处罚",
        ("机动车占用人行道", "公交港湾内违停", "路口违停影响通行"),
    ),
    _category(
        "UNLICENSED_VEHICLE",
        "无牌无证车辆/僵尸车",
        "Unlicensed or abandoned vehicles",
        STREET_ORDER,
        GENERAL,
        (5, "WD"),
        SECTOR,
        "交警",
        "拖移或依法处置",
        ("长期停放僵尸车", "无牌三轮车", "无牌电动车载客"),
    ),
    _category(
        "STREET_VENDING",
        "占道经营/流动摊贩",
        "Street vending / roaming vendors",
        STREET_ORDER,
        MAJOR,
        (2, "WH"),
        TERRITORIAL,
        "",
        "取缔或引导入市经营",
        ("流动摊贩占道经营", "人行道上摆摊", "校门口流动摊点"),
    ),
    _category(
        "SHOP_OUTSIDE",
        "店外经营",
        "Trading outside shops",
        STREET_ORDER,
        GENERAL,
        (2, "WH"),
        TERRITORIAL,
        "",
        "退店经营",
        ("商品摆放出店", "店外加工作业", "店外摆桌经营"),
        on_spot=True,
    ),
    _category(
        "MARKET_ORDER",
        "早夜市秩序",
        "Morning/night market disorder",
        STREET_ORDER,
        GENERAL,
        (1, "WD"),
        TERRITORIAL,
        "",
        "恢复经营秩序",
        ("摊位超出划线范围", "收市后场地未清理", "超时经营"),
    ),
    _category(
        "FRONTAGE_DUTY",
        "门前三包未落实",
        "Frontage duties (门前三包) not kept",
        CITY_APPEARANCE,
        GENERAL,
        (1, "WD"),
        TERRITORIAL,
        "",
        "落实门前三包",
        ("门前卫生不洁", "未设置门前三包责任牌", "门前积雪未清"),
    ),
    _category(
        "GREEN_OCCUPIED",
        "占用/毁坏公共绿地",
        "Public green space occupied or damaged",
        CITY_APPEARANCE,
        MAJOR,
        (3, "WD"),
        SECTOR,
        "园林",
        "恢复原状",
        ("毁绿种菜", "绿地内停放车辆", "绿地内堆放杂物"),
    ),
    _category(
        "GREEN_DIRTY",
        "绿地脏乱/黄土裸露",
        "Dirty green space / bare soil",
        CITY_APPEARANCE,
        GENERAL,
        (1, "WD"),
        SECTOR,
        "园林",
        "清理并覆盖裸土",
        ("绿地内有垃圾", "树坑黄土裸露", "绿篱缺株枯死"),
    ),
    _category(
        "CONSTR_WASTE",
        "建筑垃圾/渣土",
        "Construction waste and spoil",
        CONSTRUCTION,
        MAJOR,
        (1, "WD"),
        SECTOR,
        "城管/住建",
        "清运完毕",
        ("路边倾倒建筑垃圾", "装修垃圾未清运", "渣土车遗撒"),
    ),
    _category(
        "SITE_DUST",
        "工地扬尘/围挡不规范",
        "Site dust / non-compliant hoarding",
        CONSTRUCTION,
        MAJOR,
        (1, "WD"),
        SECTOR,
        "住建",
        "覆盖到位、围挡整改",
        ("裸露土方未覆盖", "围挡破损或高度不足", "出入口未冲洗车辆"),
    ),
    _category(
        "ILLEGAL_BUILD",
        "私搭乱建",
        "Illegal structures",
        CONSTRUCTION,
        MAJOR,
        (15, "WD"),
        SECTOR,
        "城管",
        "拆除",
        ("楼顶私搭彩钢房", "占用公共空间搭建棚屋", "违规圈占绿地"),
    ),
    _category(
        "FLY_WIRE",
        "飞线充电/乱拉乱挂",
        "Flying charging cables / hanging lines",
        CITY_APPEARANCE,
        URGENT,
        (4, "WH"),
        TERRITORIAL,
        "",
        "拆除飞线、消除隐患",
        ("楼上飞线给电动车充电", "树木间乱拉绳晾晒", "电线乱拉乱挂"),
    ),
    _category(
        "FIRE_LANE",
        "占用堵塞消防通道",
        "Fire lane blocked",
        STREET_ORDER,
        URGENT,
        (2, "H"),
        TERRITORIAL,
        "",
        "清除占用、恢复畅通",
        ("车辆占用消防通道", "杂物堵塞消防通道", "消防通道被锁闭"),
    ),
    _category(
        "MANHOLE",
        "井盖缺失/破损",
        "Missing or broken manhole cover",
        EMERGENCY,
        URGENT,
        (2, "H"),
        SECTOR,
        "权属单位",
        "补齐或更换井盖",
        ("井盖缺失", "井盖破损塌陷", "井盖移位"),
    ),
    _category(
        "ROAD_DAMAGE",
        "路面/人行道/盲道破损",
        "Damaged road, pavement or tactile paving",
        EXTENDED,
        MAJOR,
        (5, "WD"),
        SECTOR,
        "市政",
        "恢复原状",
        ("路面坑洼", "人行道砖松动破损", "盲道中断破损"),
    ),
    _category(
        "STREETLIGHT",
        "路灯/楼道灯不亮",
        "Street or stairwell light out",
        EXTENDED,
        GENERAL,
        (3, "WD"),
        SECTOR,
        "市政",
        "修复亮灯",
        ("路灯不亮", "楼道灯损坏", "路灯杆倾斜"),
    ),
    _category(
        "WATERLOGGING",
        "道路积水/污水外溢",
        "Waterlogging / sewage overflow",
        EMERGENCY,
        URGENT,
        (4, "WH"),
        SECTOR,
        "排水",
        "排除积水、疏通管道",
        ("路面积水严重", "污水井冒溢", "雨水箅子堵塞"),
    ),
    _category(
        "OLD_FACILITY",
        "老旧小区设施破损",
        "Broken facilities in an old compound",
        EXTENDED,
        GENERAL,
        (10, "WD"),
        PAIRED,
        "",
        "修复",
        ("单元门破损", "院内路面破损", "晾衣杆、围栏破损"),
    ),
    _category(
        "TOILET_DIRTY",
        "公厕脏乱/异味",
        "Dirty or smelly public toilet",
        CITY_APPEARANCE,
        MAJOR,
        (2, "WH"),
        SECTOR,
        "环卫",
        "彻底清洁",
        ("公厕异味大", "洗手池无水", "地面积水脏污"),
    ),
    _category(
        "MARKET_HYGIENE",
        "农贸市场卫生/秩序",
        "Market hygiene and order",
        EXTENDED,
        MAJOR,
        (1, "WD"),
        SECTOR,
        "市场监管",
        "彻底清理、规范经营",
        ("未划行归市", "“五公示”缺失", "摊位无垃圾桶"),
    ),
    _category(
        "FOOD_STALL",
        "小餐饮/食品摊点不规范",
        "Non-compliant food stall or small eatery",
        EXTENDED,
        MAJOR,
        (3, "WD"),
        SECTOR,
        "市场监管",
        "规范经营或取缔",
        ("未亮证经营", "无防蝇防尘设施", "从业人员无健康证"),
    ),
    _category(
        "VECTOR",
        "病媒孳生地/防鼠防蝇缺失",
        "Pest breeding sites / missing rodent and fly proofing",
        EXTENDED,
        MAJOR,
        (3, "WD"),
        SECTOR,
        "爱卫",
        "清除孳生地、补齐设施",
        ("发现鼠迹", "缺少挡鼠板", "积水容器孳生蚊虫"),
    ),
    _category(
        "INCIVILITY",
        "不文明行为",
        "Uncivil behaviour",
        EXTENDED,
        GENERAL,
        (1, "WD"),
        TERRITORIAL,
        "",
        "劝导制止",
        ("随地吐痰", "公共场所吸烟", "遛狗不牵绳"),
        on_spot=True,
        # The behaviour is over once the person has been spoken to; there is nothing to photograph.
        after_photo=False,
    ),
    _category(
        "OTHER",
        "其他",
        "Other",
        EXTENDED,
        GENERAL,
        (3, "WD"),
        SECTOR,
        "兜底",
        "处置完毕",
        ("其他问题",),
    ),
)


def install_default_taxonomy(
    *,
    zone_model,
    point_type_model,
    check_item_model,
    category_model,
    zone_code: str,
    overwrite: bool = True,
) -> dict[str, int]:
    """Create the default zone, point types, check items and categories, keyed by code.

    Takes the model classes so a migration can pass its historical models. With `overwrite`
    the rows are reset to these defaults; without it, only missing rows are added and an
    admin's edits are kept. Returns how many rows were created, per kind.
    """
    created = {"zones": 0, "point_types": 0, "check_items": 0, "categories": 0}

    def put(model, lookup: dict, values: dict):
        if overwrite:
            obj, was_created = model.objects.update_or_create(defaults=values, **lookup)
        else:
            obj, was_created = model.objects.get_or_create(defaults=values, **lookup)
        return obj, was_created

    # The zone's name is the zone office's to change; never overwrite it.
    _zone, was_created = zone_model.objects.get_or_create(
        code=zone_code, defaults={"name": DEFAULT_ZONE_NAME, "name_en": DEFAULT_ZONE_NAME_EN}
    )
    created["zones"] += was_created

    for type_index, seed in enumerate(POINT_TYPES):
        point_type, was_created = put(
            point_type_model,
            {"code": seed.code},
            {"name": seed.name, "name_en": seed.name_en, "sort_order": (type_index + 1) * 10},
        )
        created["point_types"] += was_created
        for item_index, (text, text_en) in enumerate(seed.check_items):
            _item, was_created = put(
                check_item_model,
                {"point_type": point_type, "text": text},
                {"text_en": text_en, "sort_order": (item_index + 1) * 10},
            )
            created["check_items"] += was_created

    for index, seed in enumerate(CATEGORIES):
        _category_row, was_created = put(
            category_model,
            {"code": seed.code},
            {
                "name": seed.name,
                "name_en": seed.name_en,
                "big_class": seed.big_class,
                "severity": seed.severity,
                "limit_value": seed.limit_value,
                "limit_unit": seed.limit_unit,
                "owner_kind": seed.owner_kind,
                "sector_hint": seed.sector_hint,
                "closing_condition": seed.closing_condition,
                "after_photo_required": seed.after_photo_required,
                "on_spot_fix_allowed": seed.on_spot_fix_allowed,
                "quick_phrases": "\n".join(seed.quick_phrases),
                "sort_order": (index + 1) * 10,
            },
        )
        created["categories"] += was_created
    return created
