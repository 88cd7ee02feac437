//! Word lists the demo shop is generated from: a category tree with, for each leaf, the
//! brands, things and details its products are named from, and a price range.

/// A category of the demo tree. `parent` names an earlier entry.
pub struct CategorySeed {
    pub name: &'static str,
    pub parent: Option<&'static str>,
    /// Empty for categories that only group others.
    pub brands: &'static [&'static str],
    pub things: &'static [&'static str],
    pub details: &'static [&'static str],
    /// Price range in whole shillings.
    pub price: (i64, i64),
    /// Placeholder image colour (RGB).
    pub colour: [u8; 3],
}

pub const CATEGORIES: &[CategorySeed] = &[
    CategorySeed {
        name: "Electronics",
        parent: None,
        brands: &[],
        things: &[],
        details: &[],
        price: (0, 0),
        colour: [52, 73, 94],
    },
    CategorySeed {
        name: "Phones & Tablets",
        parent: Some("Electronics"),
        brands: &[
            "Tecno", "Infinix", "Samsung", "Nokia", "Itel", "Oppo", "Xiaomi",
        ],
        things: &[
            "smartphone",
            "tablet",
            "feature phone",
            "phone case",
            "screen protector",
            "power bank",
        ],
        details: &["64 GB", "128 GB", "dual SIM", "5000 mAh", "4G", "6.6 inch"],
        price: (800, 45_000),
        colour: [41, 128, 185],
    },
    CategorySeed {
        name: "Audio",
        parent: Some("Electronics"),
        brands: &["JBL", "Sony", "Oraimo", "Vitron", "Sayona"],
        things: &[
            "bluetooth speaker",
            "earphones",
            "headphones",
            "soundbar",
            "radio",
        ],
        details: &["wireless", "bass boost", "FM", "waterproof", "20 W"],
        price: (600, 30_000),
        colour: [142, 68, 173],
    },
    CategorySeed {
        name: "Solar & Power",
        parent: Some("Electronics"),
        brands: &["d.light", "SunKing", "Bboxx", "Mwezi"],
        things: &[
            "solar lamp",
            "solar panel",
            "home system",
            "charge controller",
            "inverter",
        ],
        details: &["20 W", "50 W", "with phone charging", "3 bulbs", "12 V"],
        price: (1_200, 60_000),
        colour: [243, 156, 18],
    },
    CategorySeed {
        name: "Home & Kitchen",
        parent: None,
        brands: &[],
        things: &[],
        details: &[],
        price: (0, 0),
        colour: [39, 174, 96],
    },
    CategorySeed {
        name: "Cookware",
        parent: Some("Home & Kitchen"),
        brands: &["Sufuria Bora", "Kitchen King", "Ramtons", "Jiko Safi"],
        things: &[
            "sufuria set",
            "frying pan",
            "pressure cooker",
            "charcoal jiko",
            "thermos flask",
            "chapati pan",
        ],
        details: &[
            "non-stick",
            "aluminium",
            "5 litre",
            "stainless steel",
            "set of 3",
        ],
        price: (350, 12_000),
        colour: [22, 160, 133],
    },
    CategorySeed {
        name: "Furniture",
        parent: Some("Home & Kitchen"),
        brands: &["Fundi Works", "Mvule Crafts", "Kisii Wood"],
        things: &[
            "plastic chair",
            "coffee table",
            "shoe rack",
            "bed frame",
            "wardrobe",
            "stool",
        ],
        details: &["mahogany", "foldable", "3 by 6", "white", "hand made"],
        price: (900, 55_000),
        colour: [211, 84, 0],
    },
    CategorySeed {
        name: "Fashion",
        parent: None,
        brands: &[],
        things: &[],
        details: &[],
        price: (0, 0),
        colour: [192, 57, 43],
    },
    CategorySeed {
        name: "Clothing",
        parent: Some("Fashion"),
        brands: &[
            "Kitenge House",
            "Maasai Market",
            "Nairobi Threads",
            "Safari Wear",
        ],
        things: &[
            "kitenge dress",
            "shuka",
            "denim jacket",
            "cotton shirt",
            "kikoi",
            "school sweater",
        ],
        details: &["size M", "size L", "printed", "handwoven", "unisex"],
        price: (400, 8_000),
        colour: [231, 76, 60],
    },
    CategorySeed {
        name: "Shoes",
        parent: Some("Fashion"),
        brands: &["Bata", "Tyre Sandals Co", "Kudu Leather"],
        things: &[
            "leather sandals",
            "school shoes",
            "sneakers",
            "gumboots",
            "akala sandals",
        ],
        details: &["size 40", "size 42", "brown", "black", "durable sole"],
        price: (300, 9_000),
        colour: [120, 66, 18],
    },
    CategorySeed {
        name: "Groceries",
        parent: None,
        brands: &[
            "Shamba Fresh",
            "Mama Mboga",
            "Limuru Farms",
            "Kericho Gold",
            "Pwani",
        ],
        things: &[
            "pishori rice",
            "maize flour",
            "tea leaves",
            "cooking oil",
            "honey",
            "green grams",
        ],
        details: &["1 kg", "2 kg", "500 g", "organic", "1 litre"],
        price: (90, 2_500),
        colour: [46, 204, 113],
    },
    CategorySeed {
        name: "Health & Beauty",
        parent: None,
        brands: &["Shea Glow", "Aloe Kenya", "Baobab Naturals"],
        things: &[
            "shea butter",
            "body lotion",
            "hair oil",
            "black soap",
            "sunscreen",
        ],
        details: &[
            "250 ml",
            "natural",
            "unscented",
            "for dry skin",
            "family size",
        ],
        price: (150, 3_500),
        colour: [236, 112, 160],
    },
];

/// Delivery hubs: name, location, phone.
pub const HUBS: &[(&str, &str, &str)] = &[
    ("Nairobi CBD Hub", "Moi Avenue, Nairobi", "+254700100200"),
    ("Westlands Hub", "Waiyaki Way, Nairobi", "+254700100201"),
    ("Mombasa Nyali Hub", "Links Road, Mombasa", "+254700100202"),
    (
        "Kisumu Hub",
        "Oginga Odinga Street, Kisumu",
        "+254700100203",
    ),
];

pub const BUSINESS_PLACES: &[&str] = &[
    "Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret", "Thika", "Nyeri", "Machakos", "Meru",
    "Kitale", "Malindi", "Naivasha", "Kericho", "Embu", "Garissa", "Kakamega",
];
pub const BUSINESS_WORDS: &[&str] = &[
    "Fresh", "Bora", "Smart", "Jua Kali", "Urban", "Savanna", "Baraka", "Tumaini", "Neema",
    "Amani", "Rafiki", "Sokoni", "Express", "Family", "Modern", "Classic",
];
pub const BUSINESS_KINDS: &[&str] = &[
    "Traders",
    "Electronics",
    "Supplies",
    "Mart",
    "Stores",
    "Outfitters",
    "Kitchenware",
    "Fashions",
    "Enterprises",
    "Hub",
    "Depot",
    "Collections",
];

pub const FIRST_NAMES: &[&str] = &[
    "Wanjiku", "Otieno", "Achieng", "Kamau", "Njeri", "Mwangi", "Akinyi", "Kipchoge", "Chebet",
    "Mutua", "Wairimu", "Omondi", "Atieno", "Kiprono", "Nyambura", "Mohamed", "Amina", "Baraka",
    "Zawadi", "Juma",
];
pub const LAST_NAMES: &[&str] = &[
    "Mwangi", "Odhiambo", "Kariuki", "Wekesa", "Kiptoo", "Njoroge", "Ochieng", "Mutiso", "Chege",
    "Korir", "Hassan", "Wafula", "Maina", "Owino", "Rotich",
];

pub const DESCRIPTION_OPENERS: &[&str] = &[
    "A dependable choice for everyday use.",
    "Popular with our customers across the country.",
    "Quality you can feel, at a fair price.",
    "Made to last, and easy to care for.",
    "A favourite for families and small businesses.",
];
pub const DESCRIPTION_CLOSERS: &[&str] = &[
    "Delivered through your nearest MarketHub hub.",
    "Pay with M-Pesa or cash on delivery.",
    "Backed by the seller's return policy.",
    "Ask the seller about bulk prices.",
];
